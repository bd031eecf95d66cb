// smtpbench: the benchmark's SMTP client. Blocking sockets, one thread per
// concurrent session, optional implicit TLS; light enough that the servers
// it measures, not it, are what runs out of CPU (it reports its own CPU use
// so that this can be checked).
//
//   smtpbench bulk PORT [common] [--bytes N] [--pause]
//       one session that sends one message of N bytes of CRLF text lines;
//       prints MB/s. --pause: after the message is accepted, prints
//       "paused" and waits for a line on stdin before QUIT (the caller
//       reads the servers' CPU times meanwhile).
//   smtpbench rate PORT [common] [--concurrency C] [--seconds S] [--size N]
//       C threads run whole sessions back to back for S seconds (after a
//       short warm-up); prints sessions/s.
//   smtpbench hold PORT [common] [--count N] [--stage ehlo|mail]
//       opens N sessions, takes each to the stage, prints "ready", waits
//       for a line on stdin, then ends them with QUIT.
//   common: [--tls] [--user U --pass P]   (with --user: AUTH PLAIN)
//
// A session: greeting, EHLO, [AUTH PLAIN], MAIL, RCPT, DATA, message, QUIT;
// every reply is read and checked, one command at a time.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string mode;
    int port = 0;
    bool tls = false;
    std::string user, pass;
    long long bytes = 256LL << 20;
    bool pause = false;
    int concurrency = 1;
    double seconds = 5;
    std::size_t size = 1024;
    int count = 8;
    std::string stage = "mail";
};

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

SSL_CTX* client_context() {
    static SSL_CTX* ctx = [] {
        SSL_CTX* c = SSL_CTX_new(TLS_client_method());
        if (!c) throw Failure("SSL_CTX_new");
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);  // our own test certificate
        SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);  // every session a full handshake
        return c;
    }();
    return ctx;
}

class Connection {
public:
    Connection(int port, bool tls) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw Failure("socket");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw Failure(std::string("connect: ") + std::strerror(errno));
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (tls) {
            ssl_ = SSL_new(client_context());
            SSL_set_fd(ssl_, fd_);
            if (SSL_connect(ssl_) != 1) throw Failure("TLS handshake failed");
        }
    }
    ~Connection() {
        if (ssl_) SSL_free(ssl_);
        if (fd_ >= 0) ::close(fd_);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // "TLSv1.3 TLS_AES_256_GCM_SHA384", or "none".
    std::string tls_info() const {
        if (!ssl_) return "none";
        return std::string(SSL_get_version(ssl_)) + "/" +
               SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
    }

    void send(std::string_view data) {
        while (!data.empty()) {
            long n;
            if (ssl_) {
                const auto size = std::min<std::size_t>(data.size(), 1 << 20);
                n = SSL_write(ssl_, data.data(), static_cast<int>(size));
                if (n <= 0) throw Failure("TLS write failed");
            } else {
                n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) throw Failure(std::string("send: ") + std::strerror(errno));
            }
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    // One whole reply (all its lines); returns its code.
    int reply(std::string* text = nullptr) {
        for (;;) {
            // A complete last line: "DDD " or "DDD\r\n" at a line start.
            std::size_t start = 0;
            for (;;) {
                const auto lf = buffer_.find('\n', start);
                if (lf == std::string::npos) break;
                const std::string_view line(buffer_.data() + start, lf + 1 - start);
                if (line.size() >= 4 && line[3] != '-') {
                    const int code = std::atoi(std::string(line.substr(0, 3)).c_str());
                    if (text) text->assign(buffer_, 0, lf + 1);
                    buffer_.erase(0, lf + 1);
                    return code;
                }
                start = lf + 1;
            }
            char block[4096];
            long n;
            if (ssl_) {
                n = SSL_read(ssl_, block, sizeof block);
            } else {
                n = ::recv(fd_, block, sizeof block, 0);
                if (n < 0 && errno == EINTR) continue;
            }
            if (n <= 0) throw Failure("connection closed while waiting for a reply");
            buffer_.append(block, static_cast<std::size_t>(n));
        }
    }

    void expect(int code, std::string_view after) {
        std::string text;
        int got;
        try {
            got = reply(&text);
        } catch (const Failure& e) {
            throw Failure(std::string(e.what()) + " (after " + std::string(after) + ")");
        }
        if (got != code)
            throw Failure("after " + std::string(after) + ": expected " + std::to_string(code) +
                          ", got: " + text.substr(0, 200));
    }

    void command(std::string_view line, int code) {
        send(line);
        expect(code, line.substr(0, line.find_first_of(" \r")));
    }

private:
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    std::string buffer_;
};

std::string base64(std::string_view in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto byte = [&](std::size_t i) -> unsigned {
        return i < in.size() ? static_cast<unsigned char>(in[i]) : 0;
    };
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        const unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
        out += t[v >> 18];
        out += t[(v >> 12) & 63];
        out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
        out += i + 2 < in.size() ? t[v & 63] : '=';
    }
    return out;
}

// Text lines of 0 to 78 characters, CRLF, some starting with a dot (already
// dot-stuffed, as a client sends them): what mail looks like to a relay.
std::string message_text(std::size_t at_least, unsigned seed) {
    std::mt19937 random(seed);
    static const char words[] =
        "the quick brown fox jumps over lazy dog mail queue relay message header body "
        "Received from by with ESMTP id for Subject Date Message-ID Content-Type text plain";
    std::string out;
    out.reserve(at_least + 100);
    while (out.size() < at_least) {
        const unsigned kind = random() % 100;
        if (kind < 5) {
            out += "\r\n";
            continue;
        }
        if (kind < 7) out += "..";  // a line that began with "."
        const std::size_t length = 20 + random() % 59;
        const std::size_t from = random() % (sizeof words - 80);
        out.append(words + from, length);
        out += "\r\n";
    }
    return out;
}

void start_session(Connection& c, const Options& o, bool authenticate = true) {
    c.expect(220, "connect");
    c.command("EHLO bench.example\r\n", 250);
    if (authenticate && !o.user.empty()) {
        const std::string plain = std::string(1, '\0') + o.user + '\0' + o.pass;
        c.command("AUTH PLAIN " + base64(plain) + "\r\n", 235);
    }
}

void envelope(Connection& c) {
    c.command("MAIL FROM:<bench@example.org>\r\n", 250);
    c.command("RCPT TO:<sink@example.net>\r\n", 250);
    c.command("DATA\r\n", 354);
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int bulk(const Options& o) {
    const std::string pattern = message_text(1 << 20, 1);  // line-aligned, reused
    Connection c(o.port, o.tls);
    start_session(c, o);
    envelope(c);
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    long long sent = 0;
    constexpr std::size_t chunk = 256 * 1024;
    while (sent < o.bytes) {
        // Whole pattern copies only, so every line stays whole.
        std::string_view rest(pattern);
        while (!rest.empty()) {
            const auto piece = rest.substr(0, chunk);
            c.send(piece);
            rest.remove_prefix(piece.size());
        }
        sent += static_cast<long long>(pattern.size());
    }
    c.send(".\r\n");
    c.expect(250, "end of data");
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    std::printf("bulk bytes=%lld seconds=%.4f mbps=%.2f client_cpu=%.3f tls=%s\n", sent, seconds,
                static_cast<double>(sent) / seconds / 1e6, cpu, c.tls_info().c_str());
    std::fflush(stdout);
    if (o.pause) {
        std::printf("paused\n");
        std::fflush(stdout);
        std::string line;
        std::getline(std::cin, line);
    }
    c.command("QUIT\r\n", 221);
    return 0;
}

int rate(const Options& o) {
    std::string body = "Subject: bench\r\n\r\n" + message_text(o.size, 2);
    body += ".\r\n";
    std::atomic<long> done{0}, failed{0};
    std::atomic<bool> stop{false};
    std::string first_error;
    std::atomic_flag error_taken = ATOMIC_FLAG_INIT;
    std::vector<std::thread> threads;
    for (int i = 0; i < o.concurrency; ++i)
        threads.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                try {
                    Connection c(o.port, o.tls);
                    start_session(c, o);
                    envelope(c);
                    c.send(body);
                    c.expect(250, "end of data");
                    c.command("QUIT\r\n", 221);
                    done.fetch_add(1, std::memory_order_relaxed);
                } catch (const std::exception& e) {
                    failed.fetch_add(1, std::memory_order_relaxed);
                    if (!error_taken.test_and_set()) first_error = e.what();
                    std::this_thread::sleep_for(std::chrono::milliseconds(10));
                }
            }
        });
    const auto warmup = std::chrono::duration<double>(std::min(1.0, o.seconds / 5));
    std::this_thread::sleep_for(warmup);
    const long done0 = done.load(), failed0 = failed.load();
    const double cpu0 = cpu_seconds();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    const long sessions = done.load() - done0;
    const long errors = failed.load() - failed0;
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    stop = true;
    for (auto& t : threads) t.join();
    // total: every session ended, warm-up and drain included (for the
    // server's CPU per session, which bench.py reads from tcpserver).
    std::printf("rate concurrency=%d sessions=%ld errors=%ld seconds=%.3f per_second=%.1f "
                "client_cpu_share=%.3f total=%ld\n",
                o.concurrency, sessions, errors, seconds, static_cast<double>(sessions) / seconds,
                cpu / seconds, done.load() + failed.load());
    if (errors) std::printf("first_error %s\n", first_error.c_str());
    return errors ? 1 : 0;
}

int hold(const Options& o) {
    std::vector<std::unique_ptr<Connection>> open;
    for (int i = 0; i < o.count; ++i) {
        auto c = std::make_unique<Connection>(o.port, o.tls);
        start_session(*c, o, o.stage != "ehlo");
        if (o.stage == "mail") c->command("MAIL FROM:<bench@example.org>\r\n", 250);
        open.push_back(std::move(c));
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::string line;
    std::getline(std::cin, line);
    for (auto& c : open) c->command("QUIT\r\n", 221);
    return 0;
}

[[noreturn]] void usage() {
    std::fputs("usage: smtpbench bulk|rate|hold PORT [--tls] [--user U --pass P] [--bytes N]\n"
               "       [--pause] [--concurrency C] [--seconds S] [--size N] [--count N]\n"
               "       [--stage ehlo|mail]\n",
               stderr);
    std::exit(100);
}

Options parse(int argc, char** argv) {
    if (argc < 3) usage();
    Options o;
    o.mode = argv[1];
    o.port = std::atoi(argv[2]);
    for (int i = 3; i < argc; ++i) {
        const std::string a = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "--tls") o.tls = true;
        else if (a == "--pause") o.pause = true;
        else if (a == "--user") o.user = value();
        else if (a == "--pass") o.pass = value();
        else if (a == "--bytes") o.bytes = std::atoll(value().c_str());
        else if (a == "--concurrency") o.concurrency = std::atoi(value().c_str());
        else if (a == "--seconds") o.seconds = std::atof(value().c_str());
        else if (a == "--size") o.size = static_cast<std::size_t>(std::atol(value().c_str()));
        else if (a == "--count") o.count = std::atoi(value().c_str());
        else if (a == "--stage") o.stage = value();
        else usage();
    }
    if (o.port <= 0 || o.concurrency < 1 || o.count < 1 || o.seconds <= 0) usage();
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    try {
        if (o.mode == "bulk") return bulk(o);
        if (o.mode == "rate") return rate(o);
        if (o.mode == "hold") return hold(o);
    } catch (const std::exception& e) {
        std::printf("error %s\n", e.what());
        return 1;
    }
    usage();
}
