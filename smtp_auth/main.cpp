// smtp_auth CHECKPROG CHAIN...
//
// Greets the client, answers EHLO, takes SMTP AUTH, asks CHECKPROG whether the
// credentials are good (or, when CHECKPROG is "dovecot", relays the exchange
// to Dovecot's auth service), then execs CHAIN: with RELAYCLIENT, TCPREMOTEINFO and
// AUTHUSER set after a successful login, with the environment as it came
// when the client went straight to mail. With a certificate it speaks
// STARTTLS or implicit TLS, and a relay process keeps the session encrypted.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "as_user.hpp"
#include "client_address.hpp"
#include "close_connection.hpp"
#include "config.hpp"
#include "descriptors.hpp"
#include "dovecot_authenticator.hpp"
#include "handoff.hpp"
#include "log.hpp"
#include "owned_variables.hpp"
#include "session.hpp"
#include "tls.hpp"
#include "verifier.hpp"

using namespace smtpauth;
using namespace smtp_auth;

namespace {

constexpr int exit_refused = 1;
constexpr int exit_usage = 100;
constexpr int exit_temporary = 111;

[[noreturn]] void exec_chain(char** chain) {
    ::signal(SIGPIPE, SIG_DFL);  // as we found it
    ::execvp(chain[0], chain);
    const std::string why = std::strerror(errno);
    log_event("exec", "failed", "unable to run " + std::string(chain[0]) + ": " + why);
    FdChannel(0, 1).write_all("421 4.3.0 Mail service unavailable\r\n", std::chrono::seconds(10));
    std::_Exit(exit_temporary);
}

[[noreturn]] void hand_off(char** chain, const SessionEnd& end) {
    try {
        if (end.tls) {
            // As sslserver names them, for logs and filters down the chain.
            ::setenv("SSL_PROTOCOL", end.tls->protocol.c_str(), 1);
            ::setenv("SSL_CIPHER", end.tls->cipher.c_str(), 1);
        }
        if (!end.account.empty()) ::setenv(account_variable, end.account.c_str(), 1);
        if (end.user) {
            ::setenv("RELAYCLIENT", "", 1);
            ::setenv("TCPREMOTEINFO", end.user->c_str(), 1);
            ::setenv("AUTHUSER", end.user->c_str(), 1);
        }
        ::setenv(handoff_variable, encode_handoff(end.handoff).c_str(), 1);
    } catch (const std::exception& e) {
        log_event("handoff", "failed", e.what());
        FdChannel(0, 1).write_all("421 4.3.0 Mail service unavailable\r\n", std::chrono::seconds(10));
        std::_Exit(exit_temporary);
    }
    exec_chain(chain);
}

}  // namespace

int main(int argc, char** argv) {
    set_log_program("smtp_auth");
    export_connection_pid();  // every line of this connection, whoever writes it
    open_standard_descriptors();
    if (argc < 3) {
        log_event("config", "error", "usage: smtp_auth checkprog prog [arg ...]");
        return exit_usage;
    }
    char* const checkprog = argv[1];
    char** const chain = argv + 2;

    // Whatever the launcher left us: the checker is waited for (an ignored
    // SIGCHLD would reap it behind our back), signals get through, and no
    // descriptor but 0, 1 and 2 reaches the checker or the chain.
    ::signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    close_on_exec_from_3();
    // Ours to set, after a login or a handshake, and no one else's.
    clear_owned_variables();
    // Ours to set, after a login only: whatever the launcher left would make
    // authuidgid run the session as that account.
    ::unsetenv(account_variable);

    Config config;
    std::optional<DovecotSettings> dovecot;
    AsUser as_user;
    try {
        // Who the client is: tcpserver's variables, else the socket's own
        // addresses; behind a balancer, its PROXY header. Before any byte.
        if (!locate_client(0)) return exit_refused;
        config = config_from_environment();
        dovecot = dovecot_settings_from_environment(checkprog, config.checker_timeout);
        as_user = as_user_from_environment();
    } catch (const std::exception& e) {
        log_event("config", "error", e.what());
        FdChannel(0, 1).write_all("421 4.3.0 Mail service misconfigured\r\n", std::chrono::seconds(10));
        return exit_temporary;
    }
    // Nothing to do here: neither AUTH nor TLS.
    if (!config.auth.enabled && !config.tls.enabled()) exec_chain(chain);

    ::signal(SIGPIPE, SIG_IGN);  // a vanished client is an error return, not a death
    FdChannel client(0, 1);
    CheckpasswordVerifier verifier(checkprog, config.checker_timeout, as_user);
    std::unique_ptr<Authenticator> authenticator;
    if (dovecot)
        authenticator = std::make_unique<DovecotAuthenticator>(*dovecot, dovecot_client_info_from_environment());
    else
        authenticator = std::make_unique<LocalAuthenticator>(config, verifier);
    std::optional<TlsServer> tls;
    if (config.tls.enabled()) tls.emplace(config.tls, config.idle_timeout, config.remote_ip);
    const SessionEnd end = Session(config, client, *authenticator, tls ? &*tls : nullptr).run();
    authenticator.reset();  // the Dovecot connection ends here, not in the chain
    if (end.kind == SessionEnd::Kind::handoff) hand_off(chain, end);
    drain_before_close(0, 1);
    return end.exit_code;
}
