#include "sasl.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace smtp_auth {

using namespace smtpauth;

namespace {

using Kind = SaslStep::Kind;

class Plain final : public SaslMechanism {
public:

    SaslStep start(const std::optional<std::string_view>& initial) override {
        if (!initial) return {Kind::challenge, ""};
        return step(*initial);
    }

    // authzid NUL authcid NUL passwd, exactly two NULs (RFC 4616 section 2).
    SaslStep step(std::string_view message) override {
        const auto first = message.find('\0');
        if (first == std::string_view::npos) return {Kind::malformed};
        const auto second = message.find('\0', first + 1);
        if (second == std::string_view::npos || message.find('\0', second + 1) != std::string_view::npos)
            return {Kind::malformed};
        const auto authzid = message.substr(0, first);
        credentials_.user.assign(message.substr(first + 1, second - first - 1));
        credentials_.secret.str().assign(message.substr(second + 1));
        // checkpassword can only say who the user is, not whom they may act
        // for: an authzid other than themselves is refused.
        if (!authzid.empty() && authzid != credentials_.user) return {Kind::bad_credentials};
        return {Kind::done};
    }
};

class Login final : public SaslMechanism {
public:

    // "AUTH LOGIN <user>" is what .NET and many devices send: skip to the
    // password prompt.
    SaslStep start(const std::optional<std::string_view>& initial) override {
        if (!initial) return {Kind::challenge, "Username:"};
        return step(*initial);
    }

    SaslStep step(std::string_view response) override {
        if (!have_user_) {
            credentials_.user.assign(response);
            have_user_ = true;
            return {Kind::challenge, "Password:"};
        }
        credentials_.secret.str().assign(response);
        return {Kind::done};
    }

private:
    bool have_user_ = false;
};

class CramMd5 final : public SaslMechanism {
public:
    explicit CramMd5(std::string_view host) : host_(host) {}
    bool accepts_initial_response() const override { return false; }

    SaslStep start(const std::optional<std::string_view>&) override {
        credentials_.challenge = cram_challenge(host_);
        return {Kind::challenge, credentials_.challenge};
    }

    // "user SP digest", the digest 32 hex digits (RFC 2195 2); the user
    // name may hold spaces, the digest cannot.
    SaslStep step(std::string_view response) override {
        const auto space = response.rfind(' ');
        if (space == std::string_view::npos) return {Kind::malformed};
        const auto digest = response.substr(space + 1);
        const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
        if (digest.size() != 32 || !std::all_of(digest.begin(), digest.end(), hex)) return {Kind::malformed};
        credentials_.user.assign(response.substr(0, space));
        credentials_.secret.str().assign(response.substr(space + 1));
        return {Kind::done};
    }

private:
    std::string host_;
};

}  // namespace

bool server_first(std::string_view mechanism) {
    return mechanism == "CRAM-MD5" || mechanism == "DIGEST-MD5";
}

std::string cram_challenge(std::string_view host) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    // 64 random bits besides: nobody can tell a challenge in advance. (A
    // failed getrandom leaves pid and time, unique all the same.)
    std::uint64_t nonce = 0;
    if (::getrandom(&nonce, sizeof nonce, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof nonce)) nonce = 0;
    // Built by appending: g++ 12 -O3 warns wrongly (-Wrestrict) on a chain of operator+.
    std::string challenge = "<";
    challenge.append(std::to_string(::getpid())).append(".").append(std::to_string(us));
    challenge.append(".").append(std::to_string(nonce));
    challenge.append("@").append(host).append(">");
    return challenge;
}

std::unique_ptr<SaslMechanism> make_mechanism(Mechanism m, std::string_view host) {
    switch (m) {
        case Mechanism::plain: return std::make_unique<Plain>();
        case Mechanism::login: return std::make_unique<Login>();
        case Mechanism::cram_md5: return std::make_unique<CramMd5>(host);
    }
    return nullptr;
}

}  // namespace smtp_auth
