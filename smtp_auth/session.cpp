#include "session.hpp"

#include <unistd.h>

#include <algorithm>
#include <exception>

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

}  // namespace

asio::awaitable<bool> Session::reply(std::string_view text) {
    // Within the login deadline too, but a last reply (a 421) gets a moment.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(login_deadline_ - std::chrono::steady_clock::now());
    const auto idle = std::chrono::milliseconds(config_.idle_timeout);
    co_return co_await client_.write_all(text, std::clamp(left, std::chrono::milliseconds(1000), idle));
}

asio::awaitable<SessionEnd> Session::ended_by(LineReader::Status status) {
    if (status == LineReader::Status::timeout && past_login_deadline()) {
        log_event("session", "timeout", "no login within LOGIN_TIMEOUT");
        co_await reply(reply_too_slow);
        co_return closed(1);
    }
    if (status == LineReader::Status::timeout) {
        co_await reply(reply_timeout);
        log_event("session", "timeout", "idle for SMTP_TIMEOUT");
        co_return closed(1);
    }
    co_return closed(status == LineReader::Status::eof ? 0 : 1);
}

asio::awaitable<SessionEnd> Session::too_many_commands() {
    log_event("session", "closed", "too many commands without a login");
    co_await reply(reply_too_many);
    co_return closed(1);
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
asio::awaitable<bool> Session::auth_allowed() {
    co_return config_.auth.enabled && (plaintext_ok() || !(co_await authenticator_.offered(false)).empty());
}

bool Session::start_tls() {
    // Whatever the client sent behind STARTTLS came in plaintext: it must
    // not be read as if it had come over TLS (CVE-2011-0411).
    if (const auto dropped = reader_.discard_unread())
        log_event("tls", "discarded", std::to_string(dropped) + " octets pipelined after STARTTLS");
    authenticator_.release();  // no connection of its own for the TLS relay
    // The relay gets the client's socket as it came, blocking, and the
    // session an io_context of its own after the fork.
    client_.before_fork();
    tls_info_ = tls_->start();
    client_.after_fork();
    // RFC 3207 4.2: forget what the client said before.
    handoff_ = Handoff{};
    greeted_ = false;
    return tls_info_.has_value();
}

SessionEnd Session::handoff(std::optional<std::string> user) {
    SessionEnd end{SessionEnd::Kind::handoff, 0, std::move(user), account_, tls_info_, std::move(handoff_)};
    return end;
}

SessionEnd Session::run(asio::io_context& io) {
    std::optional<SessionEnd> end;
    std::exception_ptr failed;
    asio::co_spawn(io, dialogue(), [&](std::exception_ptr e, SessionEnd result) {
        failed = e;
        if (!e) end = std::move(result);
    });
    io.restart();
    io.run();
    if (failed) std::rethrow_exception(failed);
    return std::move(*end);
}

// The protocol, top to bottom: the greeting, then one command at a time.
asio::awaitable<SessionEnd> Session::dialogue() {
    // The whole root phase is bounded, however busy the client keeps it.
    login_deadline_ = std::chrono::steady_clock::now() + config_.login_timeout;
    reader_.set_deadline(login_deadline_);
    if (tls_ && config_.tls.implicit && !start_tls()) co_return closed(1);
    if (!co_await reply(config_.greeting)) co_return closed(1);
    for (;;) {
        const auto [status, raw] = co_await reader_.read_line();
        if (status == LineReader::Status::too_long) {
            if (++commands_ > config_.max_login_commands) co_return co_await too_many_commands();
            if (!co_await reply(reply_too_long)) co_return closed(1);
            continue;
        }
        if (status != LineReader::Status::line) co_return co_await ended_by(status);

        const Command command = parse_command(raw);
        const auto& verb = command.verb;
        // An AUTH line may carry a password: whichever way its exchange
        // ends, its lines are overwritten.
        std::optional<LineReader::ConsumedWiper> wiper;
        if (verb == "AUTH") wiper.emplace(reader_);
        const bool ours = verb == "EHLO" || verb == "HELO" || verb == "NOOP" || verb == "RSET" ||
                          verb == "HELP" || verb == "QUIT" || verb == "AUTH" || (verb == "STARTTLS" && tls_);
        // What goes to the backend is no longer ours to count.
        if ((ours || config_.auth.required) && ++commands_ > config_.max_login_commands)
            co_return co_await too_many_commands();
        if (ours && verb != "AUTH" && raw.size() > max_command) {
            if (!co_await reply(reply_too_long)) co_return closed(1);
            continue;
        }

        bool ok = true;
        if (verb == "EHLO") {
            greeted_ = true;
            remember_greeting_line(raw);
            std::vector<std::string> mechanisms;
            if (config_.auth.enabled) mechanisms = co_await authenticator_.offered(plaintext_ok());
            ok = co_await reply(config_.ehlo_reply(offer_starttls(), mechanisms));
        } else if (verb == "HELO") {
            greeted_ = true;
            remember_greeting_line(raw);
            ok = co_await reply("250 " + config_.host + "\r\n");
        } else if (verb == "NOOP") {
            ok = co_await reply("250 2.0.0 Ok\r\n");
        } else if (verb == "RSET") {
            ok = co_await reply("250 2.0.0 Flushed\r\n");
        } else if (verb == "HELP") {
            ok = co_await reply("214 2.0.0 See RFC 5321 and RFC 4954\r\n");
        } else if (verb == "QUIT") {
            co_await reply("221 2.0.0 " + config_.host + "\r\n");
            co_return SessionEnd{SessionEnd::Kind::quit};
        } else if (verb == "STARTTLS" && tls_) {
            if (tls_info_) {
                ok = co_await reply("503 5.5.1 TLS already active\r\n");
            } else if (!command.argument.empty()) {
                ok = co_await reply("501 5.5.4 Syntax: STARTTLS\r\n");
            } else if (!tls_->prepare()) {
                ok = co_await reply("454 4.7.0 TLS not available due to temporary reason\r\n");
            } else {
                if (!co_await reply("220 2.0.0 Ready to start TLS\r\n") || !start_tls()) co_return closed(1);
            }
        } else if (verb == "AUTH" && !config_.auth.enabled) {
            // Answered here all the same: the line may carry a password,
            // which has no business in the handoff.
            ok = co_await reply("502 5.5.1 AUTH not available\r\n");
        } else if (verb == "AUTH" && !greeted_) {
            // RFC 4954 4: AUTH belongs to the EHLO exchange (after STARTTLS,
            // the new one).
            ok = co_await reply("503 5.5.1 EHLO first\r\n");
        } else if (verb == "AUTH") {
            switch (co_await authenticate(command.argument)) {
                case AuthResult::success:
                    handoff_.pending.assign(reader_.unread());
                    co_return handoff(user_);
                case AuthResult::end:
                    // No co_await inside ?: here or anywhere: GCC 12 miscompiles it.
                    if (end_status_ == LineReader::Status::line) co_return closed(1);
                    co_return co_await ended_by(end_status_);
                case AuthResult::failure:
                    if (failures_ >= config_.max_failures) {
                        log_event("session", "closed", "too many failed logins");
                        co_await reply("421 4.7.0 Too many failed authentication attempts\r\n");
                        co_return closed(1);
                    }
                    break;
                case AuthResult::other:
                    break;
            }
        } else if (config_.auth.required) {
            const bool allowed = co_await auth_allowed();
            ok = co_await reply(allowed ? "530 5.7.0 Authentication required\r\n"
                                        : "530 5.7.0 Must issue a STARTTLS command first\r\n");
        } else {
            // Not ours: qmail-smtpd answers this line and all that follows.
            handoff_.pending.assign(reader_.from_last_line());
            co_return handoff(std::nullopt);
        }
        if (!ok) co_return closed(1);
    }
}

void Session::log_attempt(std::string_view mechanism, const std::string& user, std::string_view outcome,
                          std::string_view detail) {
    log_user_event("auth " + std::string(mechanism), user, outcome, detail);
}

asio::awaitable<Session::AuthResult> Session::refuse(std::string_view mechanism, const std::string& user,
                                                     std::string_view outcome, std::string_view why,
                                                     std::chrono::steady_clock::time_point attempted) {
    ++failures_;
    log_attempt(mechanism, user, outcome, why);
    // Every failure is answered AUTH_DELAY after the credentials came in,
    // however long the check took: an unknown user, whose check is one dummy
    // hash, looks like a known one whose hash is slower or faster.
    co_await sleep_until(attempted + config_.fail_delay);
    const bool said = co_await reply("535 5.7.8 Authentication credentials invalid\r\n");
    co_return said ? AuthResult::failure : AuthResult::end;
}

asio::awaitable<Session::AuthResult> Session::authenticate(std::string_view argument) {
    // Every path out of here wipes what the client sent: the lines may
    // carry a password.
    const auto say = [this](std::string_view text) -> asio::awaitable<AuthResult> {
        const bool said = co_await reply(text);
        co_return said ? AuthResult::other : AuthResult::end;
    };

    const auto args = parse_auth_arguments(argument);
    if (!args) {
        reader_.wipe_consumed();
        co_return co_await say("501 5.5.2 Syntax: AUTH mechanism [initial-response]\r\n");
    }
    const auto name = args->mechanism;
    auto begun = co_await authenticator_.begin(name, plaintext_ok(), tls_info_.has_value());
    switch (begun.kind) {
        case Authenticator::Begin::Kind::started: break;
        case Authenticator::Begin::Kind::unknown:
            reader_.wipe_consumed();
            co_return co_await say("504 5.5.4 Unrecognized authentication mechanism\r\n");
        case Authenticator::Begin::Kind::needs_tls:
            reader_.wipe_consumed();  // it may carry a password all the same
            co_return co_await say("538 5.7.11 Encryption required for requested authentication mechanism\r\n");
        case Authenticator::Begin::Kind::unavailable:
            reader_.wipe_consumed();
            log_attempt(name, "", "temporary failure", begun.detail);
            co_return co_await say("454 4.7.0 Temporary authentication failure\r\n");
    }
    AuthExchange& exchange = *begun.exchange;
    if (args->initial_response && !exchange.accepts_initial_response()) {
        reader_.wipe_consumed();
        co_return co_await say("501 5.7.0 No initial response allowed with " + name + "\r\n");
    }

    Secret decoded(max_auth_line);
    std::optional<std::string_view> initial;
    if (args->initial_response) {
        const bool valid = *args->initial_response == "=" || base64_decode(*args->initial_response, decoded.str());
        reader_.wipe_consumed();  // the AUTH line may carry a password
        if (!valid) co_return co_await say("501 5.5.2 Invalid base64 data\r\n");
        initial = decoded.view();
    }

    // AUTH_DELAY counts from the client's last word, however long the
    // check takes.
    auto attempted = std::chrono::steady_clock::now();
    AuthStep step = co_await exchange.start(initial);
    while (step.kind == AuthStep::Kind::challenge) {
        decoded.clear();
        if (!co_await reply("334 " + base64_encode(step.challenge) + "\r\n")) co_return AuthResult::end;
        const auto [status, raw] = co_await reader_.read_line();
        if (status == LineReader::Status::too_long) {
            co_await exchange.cancel();
            co_return co_await say(reply_too_long);
        }
        if (status != LineReader::Status::line) {
            end_status_ = status;
            co_return AuthResult::end;
        }
        const auto line = strip_line_end(raw);
        if (line == "*") {
            reader_.wipe_consumed();
            co_await exchange.cancel();
            co_return co_await say("501 5.0.0 Authentication cancelled\r\n");
        }
        const bool valid = base64_decode(line, decoded.str());
        reader_.wipe_consumed();
        if (!valid) {
            co_await exchange.cancel();
            co_return co_await say("501 5.5.2 Invalid base64 data\r\n");
        }
        attempted = std::chrono::steady_clock::now();
        step = co_await exchange.step(decoded.view());
    }
    reader_.wipe_consumed();
    decoded.clear();

    switch (step.kind) {
        case AuthStep::Kind::accepted:
            log_attempt(name, step.user, "accepted");
            if (!co_await reply("235 2.7.0 Authentication successful\r\n")) co_return AuthResult::end;
            user_ = step.user;
            account_ = step.account;
            co_return AuthResult::success;
        case AuthStep::Kind::forbidden:
            // The password was right, but no session runs as that account.
            // Only the log says so: the client gets what a wrong password
            // gets, when it gets it, and it counts the same, or the reply
            // would tell an attacker that it guessed root's password.
            co_return co_await refuse(name, step.user, "refused", step.detail, attempted);
        case AuthStep::Kind::temporary:
            log_attempt(name, step.user, "temporary failure", step.detail);
            co_return co_await say("454 4.7.0 Temporary authentication failure\r\n");
        case AuthStep::Kind::malformed:
            co_return co_await say("501 5.5.2 Malformed authentication data\r\n");
        case AuthStep::Kind::rejected:
        case AuthStep::Kind::challenge:
            break;
    }
    co_return co_await refuse(name, step.user, "rejected", step.detail, attempted);
}

}  // namespace smtp_auth
