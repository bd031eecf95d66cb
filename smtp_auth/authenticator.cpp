#include "authenticator.hpp"

#include <algorithm>

#include "sasl.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

// One of our SASL mechanisms, its credentials checked by the Verifier.
class LocalExchange final : public AuthExchange {
public:
    LocalExchange(std::unique_ptr<SaslMechanism> mechanism, Verifier& verifier)
        : mechanism_(std::move(mechanism)), verifier_(verifier) {}

    bool accepts_initial_response() const override { return mechanism_->accepts_initial_response(); }
    asio::awaitable<AuthStep> start(const std::optional<std::string_view>& initial) override {
        co_return co_await judge(mechanism_->start(initial));
    }
    asio::awaitable<AuthStep> step(std::string_view response) override {
        co_return co_await judge(mechanism_->step(response));
    }

private:
    // `step` is the mechanism's answer, taken by value: this runs past the
    // caller's expression.
    asio::awaitable<AuthStep> judge(SaslStep step) {
        using K = AuthStep::Kind;
        switch (step.kind) {
            case SaslStep::Kind::challenge: co_return AuthStep{K::challenge, step.challenge};
            case SaslStep::Kind::malformed: co_return AuthStep{K::malformed};
            case SaslStep::Kind::bad_credentials:
            case SaslStep::Kind::done: break;
        }
        Credentials& credentials = mechanism_->credentials();
        const auto refuse = [&](std::string why) { return AuthStep{K::rejected, "", credentials.user, std::move(why)}; };
        if (step.kind == SaslStep::Kind::bad_credentials) co_return refuse("authorization identity");
        if (!acceptable_user(credentials.user)) co_return refuse("bad user name");
        if (credentials.secret.empty()) co_return refuse("empty password");
        const Verdict verdict = co_await verifier_.verify(credentials);
        credentials.secret.clear();
        switch (verdict.kind) {
            case Verdict::Kind::accepted: co_return AuthStep{K::accepted, "", credentials.user, "", verdict.account};
            case Verdict::Kind::temporary: co_return AuthStep{K::temporary, "", credentials.user, verdict.detail};
            case Verdict::Kind::forbidden: co_return AuthStep{K::forbidden, "", credentials.user, verdict.detail};
            case Verdict::Kind::rejected: break;
        }
        co_return refuse(verdict.detail);
    }

    std::unique_ptr<SaslMechanism> mechanism_;
    Verifier& verifier_;
};

}  // namespace

bool acceptable_user(std::string_view user) {
    if (user.empty()) return false;
    return std::none_of(user.begin(), user.end(), [](char ch) {
        const auto c = static_cast<unsigned char>(ch);
        return c < 0x20 || c == 0x7f;
    });
}

asio::awaitable<std::vector<std::string>> LocalAuthenticator::offered(bool plaintext_ok) {
    std::vector<std::string> names;
    if (!plaintext_ok) co_return names;
    for (const auto m : config_.auth.mechanisms) names.emplace_back(mechanism_name(m));
    co_return names;
}

asio::awaitable<Authenticator::Begin> LocalAuthenticator::begin(std::string_view mechanism, bool plaintext_ok, bool) {
    if (!plaintext_ok) co_return Begin{Begin::Kind::needs_tls};
    const auto& offered = config_.auth.mechanisms;
    const auto chosen = std::find_if(offered.begin(), offered.end(),
                                     [&](Mechanism m) { return mechanism_name(m) == mechanism; });
    if (chosen == offered.end()) co_return Begin{Begin::Kind::unknown};
    co_return Begin{Begin::Kind::started, std::make_unique<LocalExchange>(make_mechanism(*chosen, config_.host), verifier_)};
}

}  // namespace smtp_auth
