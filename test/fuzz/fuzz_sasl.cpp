// Each SASL mechanism on decoded client data: start() with or without an
// initial response, then step() as often as the input says, checked against
// RFC 4616 (PLAIN), the LOGIN prompts and RFC 2195 (CRAM-MD5).
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "sasl.hpp"

using namespace smtpauth;
using namespace smtp_auth;

namespace {

constexpr std::string_view host = "mx.example";
constexpr std::size_t max_response = 12288;
constexpr int max_steps = 8;

using Kind = SaslStep::Kind;

// What the mechanism should say to `response` in the state reached so far.
struct Expectation {
    Mechanism mechanism;
    int answers = 0;  // client answers taken so far, the initial response included

    void check(const SaslStep& step, std::string_view response, const Credentials& c) {
        ++answers;
        switch (mechanism) {
        case Mechanism::plain: {
            const auto nuls = std::count(response.begin(), response.end(), '\0');
            if (nuls != 2) {
                FUZZ_CHECK(step.kind == Kind::malformed);
                return;
            }
            const auto first = response.find('\0');
            const auto second = response.find('\0', first + 1);
            const auto authzid = response.substr(0, first);
            const auto user = response.substr(first + 1, second - first - 1);
            FUZZ_CHECK(c.user == user);
            FUZZ_CHECK(c.secret.view() == response.substr(second + 1));
            FUZZ_CHECK(c.challenge.empty());
            const bool acting_for_another = !authzid.empty() && authzid != user;
            FUZZ_CHECK(step.kind == (acting_for_another ? Kind::bad_credentials : Kind::done));
            return;
        }
        case Mechanism::login:
            if (answers == 1) {
                FUZZ_CHECK(step.kind == Kind::challenge);
                FUZZ_CHECK(step.challenge == "Password:");
                FUZZ_CHECK(c.user == response);
            } else {
                FUZZ_CHECK(step.kind == Kind::done);
                FUZZ_CHECK(c.secret.view() == response);
            }
            return;
        case Mechanism::cram_md5: {
            // "user SP digest", the digest exactly 32 hex digits.
            const auto space = response.rfind(' ');
            const auto digest = space == std::string_view::npos ? std::string_view() : response.substr(space + 1);
            const bool hex = digest.find_first_not_of("0123456789abcdefABCDEF") == std::string_view::npos;
            if (space == std::string_view::npos || digest.size() != 32 || !hex) {
                FUZZ_CHECK(step.kind == Kind::malformed);
                return;
            }
            FUZZ_CHECK(step.kind == Kind::done);
            FUZZ_CHECK(c.user == response.substr(0, space));
            FUZZ_CHECK(c.secret.view() == response.substr(space + 1));
            FUZZ_CHECK(c.secret.view().find(' ') == std::string_view::npos);
            return;
        }
        }
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider provider(data, size);
    const auto m = provider.PickValueInArray({Mechanism::login, Mechanism::plain, Mechanism::cram_md5});
    const bool with_initial = provider.ConsumeBool();

    const auto mechanism = make_mechanism(m, host);
    FUZZ_CHECK(mechanism != nullptr);
    FUZZ_CHECK(mechanism->accepts_initial_response() == (m != Mechanism::cram_md5));

    Expectation expect{m};
    std::optional<std::string> initial;
    if (with_initial && mechanism->accepts_initial_response())
        initial = provider.ConsumeRandomLengthString(max_response);
    std::optional<std::string_view> initial_view;
    if (initial) initial_view = *initial;

    SaslStep step = mechanism->start(initial_view);
    const Credentials& c = mechanism->credentials();
    if (initial) {
        expect.check(step, *initial, c);
    } else {
        FUZZ_CHECK(step.kind == Kind::challenge);
        switch (m) {
        case Mechanism::plain: FUZZ_CHECK(step.challenge.empty()); break;
        case Mechanism::login: FUZZ_CHECK(step.challenge == "Username:"); break;
        case Mechanism::cram_md5:
            FUZZ_CHECK(step.challenge.starts_with('<'));
            FUZZ_CHECK(step.challenge.ends_with("@mx.example>"));
            FUZZ_CHECK(c.challenge == step.challenge);
            break;
        }
    }

    // The dialogue stops at the first step that is not a challenge; calling
    // step() after that must still be harmless.
    for (int i = 0; i < max_steps && provider.remaining_bytes() > 0; ++i) {
        const std::string response = provider.ConsumeRandomLengthString(max_response);
        const bool in_dialogue = step.kind == Kind::challenge;
        step = mechanism->step(response);
        if (in_dialogue) expect.check(step, response, c);
    }
    return 0;
}
