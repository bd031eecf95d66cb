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
    AuthStep start(const std::optional<std::string_view>& initial) override { return judge(mechanism_->start(initial)); }
    AuthStep step(std::string_view response) override { return judge(mechanism_->step(response)); }

private:
    AuthStep judge(const SaslStep& step) {
        using K = AuthStep::Kind;
        switch (step.kind) {
            case SaslStep::Kind::challenge: return {K::challenge, step.challenge};
            case SaslStep::Kind::malformed: return {K::malformed};
            case SaslStep::Kind::bad_credentials:
            case SaslStep::Kind::done: break;
        }
        Credentials& credentials = mechanism_->credentials();
        const auto refuse = [&](std::string why) { return AuthStep{K::rejected, "", credentials.user, std::move(why)}; };
        if (step.kind == SaslStep::Kind::bad_credentials) return refuse("authorization identity");
        if (!acceptable_user(credentials.user)) return refuse("bad user name");
        if (credentials.secret.empty()) return refuse("empty password");
        const Verdict verdict = verifier_.verify(credentials);
        credentials.secret.clear();
        switch (verdict.kind) {
            case Verdict::Kind::accepted: return {K::accepted, "", credentials.user, "", verdict.account};
            case Verdict::Kind::temporary: return {K::temporary, "", credentials.user, verdict.detail};
            case Verdict::Kind::forbidden: return {K::forbidden, "", credentials.user, verdict.detail};
            case Verdict::Kind::rejected: break;
        }
        return refuse(verdict.detail);
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

std::vector<std::string> LocalAuthenticator::offered(bool plaintext_ok) {
    std::vector<std::string> names;
    if (!plaintext_ok) return names;
    for (const auto m : config_.auth.mechanisms) names.emplace_back(mechanism_name(m));
    return names;
}

Authenticator::Begin LocalAuthenticator::begin(std::string_view mechanism, bool plaintext_ok, bool) {
    if (!plaintext_ok) return {Begin::Kind::needs_tls};
    const auto& offered = config_.auth.mechanisms;
    const auto chosen = std::find_if(offered.begin(), offered.end(),
                                     [&](Mechanism m) { return mechanism_name(m) == mechanism; });
    if (chosen == offered.end()) return {Begin::Kind::unknown};
    return {Begin::Kind::started, std::make_unique<LocalExchange>(make_mechanism(*chosen, config_.host), verifier_)};
}

}  // namespace smtp_auth
