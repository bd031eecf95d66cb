#include "session.hpp"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "base64.hpp"
#include "command.hpp"
#include "log.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

constexpr std::string_view reply_too_long = "500 5.5.6 Line too long\r\n";
constexpr std::string_view reply_timeout = "421 4.4.2 Timeout, closing connection\r\n";
constexpr std::string_view reply_too_slow = "421 4.4.2 Too long without logging in, closing connection\r\n";
constexpr std::string_view reply_too_many = "421 4.7.0 Too many commands without logging in, closing connection\r\n";

void sleep_until(std::chrono::steady_clock::time_point when) {
    for (;;) {
        const auto left = when - std::chrono::steady_clock::now();
        if (left <= left.zero()) return;
        const auto s = std::chrono::duration_cast<std::chrono::seconds>(left);
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left - s);
        timespec t{static_cast<time_t>(s.count()), static_cast<long>(ns.count())};
        ::nanosleep(&t, nullptr);
    }
}

}  // namespace

bool Session::reply(std::string_view text) {
    // Within the login deadline too, but a last reply (a 421) gets a moment.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(login_deadline_ - std::chrono::steady_clock::now());
    const auto idle = std::chrono::milliseconds(config_.idle_timeout);
    return client_.write_all(text, std::clamp(left, std::chrono::milliseconds(1000), idle));
}

SessionEnd Session::ended_by(LineReader::Status status) {
    if (status == LineReader::Status::timeout && past_login_deadline()) {
        log_event("session", "timeout", "no login within LOGIN_TIMEOUT");
        reply(reply_too_slow);
        return closed(1);
    }
    if (status == LineReader::Status::timeout) {
        reply(reply_timeout);
        log_event("session", "timeout", "idle for SMTP_TIMEOUT");
        return closed(1);
    }
    return closed(status == LineReader::Status::eof ? 0 : 1);
}

SessionEnd Session::too_many_commands() {
    log_event("session", "closed", "too many commands without a login");
    reply(reply_too_many);
    return closed(1);
}

void Session::remember_greeting_line(std::string_view raw) {
    // Only the state after the last HELO/EHLO matters to the backend, so the
    // oldest lines can go when the bound is reached.
    if (handoff_.answered.size() == handoff_max_lines) handoff_.answered.erase(handoff_.answered.begin());
    handoff_.answered.emplace_back(raw);
}

bool Session::plaintext_ok() const {
    return tls_ == nullptr || tls_info_ || config_.tls.allow_plaintext_auth;
}

// Is there a mechanism this client may use now?
bool Session::auth_allowed() {
    return config_.auth.enabled && (plaintext_ok() || !authenticator_.offered(false).empty());
}

bool Session::start_tls() {
    // Whatever the client sent behind STARTTLS came in plaintext: it must
    // not be read as if it had come over TLS (CVE-2011-0411).
    if (const auto dropped = reader_.discard_unread())
        log_event("tls", "discarded", std::to_string(dropped) + " octets pipelined after STARTTLS");
    authenticator_.release();  // no connection of its own for the TLS relay
    tls_info_ = tls_->start();
    // RFC 3207 4.2: forget what the client said before.
    handoff_ = Handoff{};
    greeted_ = false;
    return tls_info_.has_value();
}

SessionEnd Session::handoff(std::optional<std::string> user) {
    SessionEnd end{SessionEnd::Kind::handoff, 0, std::move(user), account_, tls_info_, std::move(handoff_)};
    return end;
}

SessionEnd Session::run() {
    // The whole root phase is bounded, however busy the client keeps it.
    login_deadline_ = std::chrono::steady_clock::now() + config_.login_timeout;
    reader_.set_deadline(login_deadline_);
    if (tls_ && config_.tls.implicit && !start_tls()) return closed(1);
    if (!reply(config_.greeting)) return closed(1);
    for (;;) {
        const auto [status, raw] = reader_.read_line();
        if (status == LineReader::Status::too_long) {
            if (++commands_ > config_.max_login_commands) return too_many_commands();
            if (!reply(reply_too_long)) return closed(1);
            continue;
        }
        if (status != LineReader::Status::line) return ended_by(status);

        const Command command = parse_command(raw);
        const auto& verb = command.verb;
        // An AUTH line may carry a password: whichever way its exchange
        // ends, its lines are overwritten.
        std::optional<LineReader::ConsumedWiper> wiper;
        if (verb == "AUTH") wiper.emplace(reader_);
        const bool ours = verb == "EHLO" || verb == "HELO" || verb == "NOOP" || verb == "RSET" ||
                          verb == "HELP" || verb == "QUIT" || verb == "AUTH" || (verb == "STARTTLS" && tls_);
        // What goes to the backend is no longer ours to count.
        if ((ours || config_.auth.required) && ++commands_ > config_.max_login_commands) return too_many_commands();
        if (ours && verb != "AUTH" && raw.size() > max_command) {
            if (!reply(reply_too_long)) return closed(1);
            continue;
        }

        bool ok = true;
        if (verb == "EHLO") {
            greeted_ = true;
            remember_greeting_line(raw);
            std::vector<std::string> mechanisms;
            if (config_.auth.enabled) mechanisms = authenticator_.offered(plaintext_ok());
            ok = reply(config_.ehlo_reply(offer_starttls(), mechanisms));
        } else if (verb == "HELO") {
            greeted_ = true;
            remember_greeting_line(raw);
            ok = reply("250 " + config_.host + "\r\n");
        } else if (verb == "NOOP") {
            ok = reply("250 2.0.0 Ok\r\n");
        } else if (verb == "RSET") {
            ok = reply("250 2.0.0 Flushed\r\n");
        } else if (verb == "HELP") {
            ok = reply("214 2.0.0 See RFC 5321 and RFC 4954\r\n");
        } else if (verb == "QUIT") {
            reply("221 2.0.0 " + config_.host + "\r\n");
            return {SessionEnd::Kind::quit};
        } else if (verb == "STARTTLS" && tls_) {
            if (tls_info_) {
                ok = reply("503 5.5.1 TLS already active\r\n");
            } else if (!command.argument.empty()) {
                ok = reply("501 5.5.4 Syntax: STARTTLS\r\n");
            } else if (!tls_->prepare()) {
                ok = reply("454 4.7.0 TLS not available due to temporary reason\r\n");
            } else {
                if (!reply("220 2.0.0 Ready to start TLS\r\n") || !start_tls()) return closed(1);
            }
        } else if (verb == "AUTH" && !config_.auth.enabled) {
            // Answered here all the same: the line may carry a password,
            // which has no business in the handoff.
            ok = reply("502 5.5.1 AUTH not available\r\n");
        } else if (verb == "AUTH" && !greeted_) {
            // RFC 4954 4: AUTH belongs to the EHLO exchange (after STARTTLS,
            // the new one).
            ok = reply("503 5.5.1 EHLO first\r\n");
        } else if (verb == "AUTH") {
            switch (authenticate(command.argument)) {
                case AuthResult::success:
                    handoff_.pending.assign(reader_.unread());
                    return handoff(user_);
                case AuthResult::end:
                    return end_status_ == LineReader::Status::line ? closed(1) : ended_by(end_status_);
                case AuthResult::failure:
                    if (failures_ >= config_.max_failures) {
                        log_event("session", "closed", "too many failed logins");
                        reply("421 4.7.0 Too many failed authentication attempts\r\n");
                        return closed(1);
                    }
                    break;
                case AuthResult::other:
                    break;
            }
        } else if (config_.auth.required) {
            ok = reply(auth_allowed() ? "530 5.7.0 Authentication required\r\n"
                                      : "530 5.7.0 Must issue a STARTTLS command first\r\n");
        } else {
            // Not ours: qmail-smtpd answers this line and all that follows.
            handoff_.pending.assign(reader_.from_last_line());
            return handoff(std::nullopt);
        }
        if (!ok) return closed(1);
    }
}

void Session::log_attempt(std::string_view mechanism, const std::string& user, std::string_view outcome,
                          std::string_view detail) {
    log_user_event("auth " + std::string(mechanism), user, outcome, detail);
}

Session::AuthResult Session::refuse(std::string_view mechanism, const std::string& user, std::string_view why,
                                    std::chrono::steady_clock::time_point attempted) {
    ++failures_;
    log_attempt(mechanism, user, "rejected", why);
    // Every failure is answered AUTH_DELAY after the credentials came in,
    // however long the check took: an unknown user, whose check is one dummy
    // hash, looks like a known one whose hash is slower or faster.
    sleep_until(attempted + config_.fail_delay);
    return reply("535 5.7.8 Authentication credentials invalid\r\n") ? AuthResult::failure : AuthResult::end;
}

Session::AuthResult Session::authenticate(std::string_view argument) {
    const auto say = [this](std::string_view text) { return reply(text) ? AuthResult::other : AuthResult::end; };

    const auto args = parse_auth_arguments(argument);
    if (!args) {
        reader_.wipe_consumed();
        return say("501 5.5.2 Syntax: AUTH mechanism [initial-response]\r\n");
    }
    const auto name = args->mechanism;
    auto begun = authenticator_.begin(name, plaintext_ok(), tls_info_.has_value());
    switch (begun.kind) {
        case Authenticator::Begin::Kind::started: break;
        case Authenticator::Begin::Kind::unknown:
            reader_.wipe_consumed();
            return say("504 5.5.4 Unrecognized authentication mechanism\r\n");
        case Authenticator::Begin::Kind::needs_tls:
            reader_.wipe_consumed();  // it may carry a password all the same
            return say("538 5.7.11 Encryption required for requested authentication mechanism\r\n");
        case Authenticator::Begin::Kind::unavailable:
            reader_.wipe_consumed();
            log_attempt(name, "", "temporary failure", begun.detail);
            return say("454 4.7.0 Temporary authentication failure\r\n");
    }
    AuthExchange& exchange = *begun.exchange;
    if (args->initial_response && !exchange.accepts_initial_response()) {
        reader_.wipe_consumed();
        return say("501 5.7.0 No initial response allowed with " + name + "\r\n");
    }

    Secret decoded(max_auth_line);
    std::optional<std::string_view> initial;
    if (args->initial_response) {
        const bool valid = *args->initial_response == "=" || base64_decode(*args->initial_response, decoded.str());
        reader_.wipe_consumed();  // the AUTH line may carry a password
        if (!valid) return say("501 5.5.2 Invalid base64 data\r\n");
        initial = decoded.view();
    }

    // AUTH_DELAY counts from the client's last word, however long the
    // check takes.
    auto attempted = std::chrono::steady_clock::now();
    AuthStep step = exchange.start(initial);
    while (step.kind == AuthStep::Kind::challenge) {
        decoded.clear();
        if (!reply("334 " + base64_encode(step.challenge) + "\r\n")) return AuthResult::end;
        const auto [status, raw] = reader_.read_line();
        if (status == LineReader::Status::too_long) {
            exchange.cancel();
            return say(reply_too_long);
        }
        if (status != LineReader::Status::line) {
            end_status_ = status;
            return AuthResult::end;
        }
        const auto line = strip_line_end(raw);
        if (line == "*") {
            exchange.cancel();
            return say("501 5.0.0 Authentication cancelled\r\n");
        }
        const bool valid = base64_decode(line, decoded.str());
        reader_.wipe_consumed();
        if (!valid) {
            exchange.cancel();
            return say("501 5.5.2 Invalid base64 data\r\n");
        }
        attempted = std::chrono::steady_clock::now();
        step = exchange.step(decoded.view());
    }
    reader_.wipe_consumed();
    decoded.clear();

    switch (step.kind) {
        case AuthStep::Kind::accepted:
            log_attempt(name, step.user, "accepted");
            if (!reply("235 2.7.0 Authentication successful\r\n")) return AuthResult::end;
            user_ = step.user;
            account_ = step.account;
            return AuthResult::success;
        case AuthStep::Kind::forbidden:
            // The password was right: no delay hides that, and no retry
            // helps. The session ends rather than run as that account.
            log_attempt(name, step.user, "refused", step.detail);
            reply("421 4.7.0 No mail session for this account, closing connection\r\n");
            return AuthResult::end;
        case AuthStep::Kind::temporary:
            log_attempt(name, step.user, "temporary failure", step.detail);
            return say("454 4.7.0 Temporary authentication failure\r\n");
        case AuthStep::Kind::malformed:
            return say("501 5.5.2 Malformed authentication data\r\n");
        case AuthStep::Kind::rejected:
        case AuthStep::Kind::challenge:
            break;
    }
    return refuse(name, step.user, step.detail, attempted);
}

}  // namespace smtp_auth
