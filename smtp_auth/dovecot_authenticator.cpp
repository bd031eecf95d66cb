#include "dovecot_authenticator.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "base64.hpp"
#include "log.hpp"
#include "sasl.hpp"
#include "secret.hpp"

namespace smtp_auth {

using namespace smtpauth;

namespace {

constexpr std::size_t max_user = 255;

std::string getenv_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// UCSPI values may hold anything: only what is an address or a port goes on.
std::string valid_ip(const std::string& ip) {
    unsigned char out[16];
    if (::inet_pton(AF_INET, ip.c_str(), out) == 1 || ::inet_pton(AF_INET6, ip.c_str(), out) == 1) return ip;
    return "";
}

std::string valid_port(const std::string& port) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return "";
    const int n = std::stoi(port);
    return n >= 1 && n <= 65535 ? std::to_string(n) : "";
}

// One AUTH request, relayed line by line. Any fault drops the connection:
// the next AUTH starts a new one.
class DovecotExchange final : public AuthExchange {
public:
    DovecotExchange(DovecotAuthenticator& owner, unsigned id, std::string mechanism, std::string request)
        : owner_(owner), id_(std::to_string(id)), mechanism_(std::move(mechanism)), request_(std::move(request)) {}

    // Dovecot would ignore the client's initial response to CRAM-MD5 and
    // send its challenge: the 501 is ours to give, as with a checker.
    bool accepts_initial_response() const override { return !server_first(mechanism_); }

    asio::awaitable<AuthStep> start(const std::optional<std::string_view>& initial) override {
        Secret line(dovecot_max_line);
        line.str() = request_;
        if (initial) {
            // resp= comes last; "=" from the client is an empty response.
            Secret encoded;
            encoded.str() = base64_encode(*initial);
            line.str().append("\tresp=").append(encoded.view());
        }
        co_return co_await relay(line);
    }

    asio::awaitable<AuthStep> step(std::string_view response) override {
        Secret line(dovecot_max_line);
        Secret encoded;
        encoded.str() = base64_encode(response);
        line.str().append("CONT\t").append(id_).append("\t").append(encoded.view());
        co_return co_await relay(line);
    }

    asio::awaitable<void> cancel() override {
        if (done_) co_return;
        done_ = true;
        try {
            co_await owner_.connection().send("CANCEL\t" + id_, owner_.settings().reply_timeout);
        } catch (const DovecotError&) {
            owner_.drop();
        }
    }

private:
    asio::awaitable<AuthStep> relay(const Secret& line) {
        using K = AuthStep::Kind;
        try {
            // Within Dovecot's own bound: a client line of 12288 octets
            // makes at most 12288 of base64.
            if (line.size() > dovecot_max_line) throw DovecotError("request over " + std::to_string(dovecot_max_line) + " octets");
            auto& connection = owner_.connection();
            co_await connection.send(line.view(), owner_.settings().reply_timeout);
            const auto fields = co_await connection.receive(owner_.settings().reply_timeout);
            std::string error;
            const auto reply = dovecot_reply(fields, static_cast<unsigned>(std::stoul(id_)), error);
            if (!reply) throw DovecotError(error);
            if (reply->kind == DovecotReply::Kind::cont) {
                std::string challenge;
                if (!base64_decode(reply->data, challenge)) throw DovecotError("CONT with invalid base64");
                co_return AuthStep{K::challenge, std::move(challenge)};
            }
            done_ = true;
            std::string user = reply->user.value_or("");
            const bool usable = acceptable_user(user) && user.size() <= max_user;
            if (reply->kind == DovecotReply::Kind::ok) {
                // The name goes into TCPREMOTEINFO, AUTHUSER and the log.
                if (!reply->user) throw DovecotError("OK without user=");
                if (!usable) throw DovecotError("OK with an unusable user= name");
                co_return AuthStep{K::accepted, "", std::move(user)};
            }
            if (!usable) user.clear();
            if (reply->temporary) co_return AuthStep{K::temporary, "", std::move(user), "dovecot: temporary failure"};
            co_return AuthStep{K::rejected, "", std::move(user), "dovecot: FAIL"};
        } catch (const DovecotError& e) {
            done_ = true;
            owner_.drop();
            co_return AuthStep{K::temporary, "", "", "dovecot " + owner_.settings().address.text() + ": " + e.what()};
        }
    }

    DovecotAuthenticator& owner_;
    std::string id_;
    std::string mechanism_;
    std::string request_;  // AUTH and its parameters, without resp=
    bool done_ = false;
};

}  // namespace

DovecotClientInfo dovecot_client_info_from_environment() {
    return {valid_ip(getenv_or_empty("TCPLOCALIP")), valid_ip(getenv_or_empty("TCPREMOTEIP")),
            valid_port(getenv_or_empty("TCPLOCALPORT")), valid_port(getenv_or_empty("TCPREMOTEPORT"))};
}

std::optional<DovecotSettings> dovecot_settings_from_environment(std::string_view checkprog,
                                                                 std::chrono::seconds reply_timeout) {
    const char* where = std::getenv("DOVECOT_AUTH");
    if (checkprog != "dovecot") {
        if (where) throw std::invalid_argument("DOVECOT_AUTH is set but CHECKPROG is not \"dovecot\"");
        return std::nullopt;
    }
    std::string_view smtpauth = std::getenv("SMTPAUTH") ? std::getenv("SMTPAUTH") : "";
    if (smtpauth.starts_with('!')) smtpauth.remove_prefix(1);
    if (!smtpauth.empty() && smtpauth != "-")
        throw std::invalid_argument("SMTPAUTH must be \"\", \"!\" or \"-\" with Dovecot: its auth_mechanisms chooses the mechanisms");
    DovecotSettings s;
    s.address = parse_dovecot_address(where ? where : "/run/dovecot/auth-client");
    s.reply_timeout = reply_timeout;
    s.connect_timeout = std::min<std::chrono::milliseconds>(s.connect_timeout, reply_timeout);
    return s;
}

asio::awaitable<bool> DovecotAuthenticator::connect(std::string& why) {
    tried_ = true;
    try {
        connection_ = co_await DovecotConnection::open(settings_.address, settings_.connect_timeout);
        co_return true;
    } catch (const DovecotError& e) {
        why = "dovecot " + settings_.address.text() + " unavailable: " + e.what();
        co_return false;
    }
}

asio::awaitable<std::vector<std::string>> DovecotAuthenticator::offered(bool plaintext_ok) {
    if (!connection_ && !tried_) {
        std::string why;
        if (!co_await connect(why))
            log_event("dovecot", "unavailable", why + "; no AUTH offered");
    }
    std::vector<std::string> names;
    if (!connection_) co_return names;
    for (const auto& m : connection_->mechanisms())
        if (dovecot_offerable(m) && (plaintext_ok || !m.plaintext)) names.push_back(m.name);
    co_return names;
}

asio::awaitable<Authenticator::Begin> DovecotAuthenticator::begin(std::string_view mechanism, bool plaintext_ok, bool secured) {
    // Dovecot restarted since EHLO: a new connection, not a 454.
    if (connection_ && !connection_->idle_and_open()) connection_.reset();
    if (!connection_) {
        std::string why;
        if (!co_await connect(why)) co_return Begin{Begin::Kind::unavailable, nullptr, why};
    }
    const auto& all = connection_->mechanisms();
    const auto m = std::find_if(all.begin(), all.end(),
                                [&](const DovecotMechanism& d) { return d.name == mechanism && dovecot_offerable(d); });
    if (m == all.end()) co_return Begin{Begin::Kind::unknown};
    // Dovecot's auth server leaves this rule to its login processes: a
    // relaying client applies it itself.
    if (m->plaintext && !plaintext_ok) co_return Begin{Begin::Kind::needs_tls};
    const unsigned id = next_id_++;
    std::string request = "AUTH\t" + std::to_string(id) + "\t" + m->name + "\tservice=smtp";
    if (!client_.local_ip.empty()) request += "\tlip=" + client_.local_ip;
    if (!client_.remote_ip.empty()) request += "\trip=" + client_.remote_ip;
    if (!client_.local_port.empty()) request += "\tlport=" + client_.local_port;
    if (!client_.remote_port.empty()) request += "\trport=" + client_.remote_port;
    if (secured) request += "\tsecured";
    co_return Begin{Begin::Kind::started, std::make_unique<DovecotExchange>(*this, id, m->name, std::move(request))};
}

void DovecotAuthenticator::release() {
    connection_.reset();
    tried_ = false;
}

}  // namespace smtp_auth
