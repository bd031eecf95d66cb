// What the dialogue's unit tests share: a client that hands out the bytes of
// a script and keeps what it is told, a TLS that always shakes hands, and a
// session run to its end on an io_context of its own.
#pragma once
#include <algorithm>
#include <deque>
#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "session.hpp"

namespace smtp_auth::test {

// Hands out the client's bytes in the chunks given, then EOF (or a timeout).
// Replies are never refused.
class ScriptedClient final : public ClientChannel {
public:
    explicit ScriptedClient(std::deque<std::string> chunks) : chunks_(std::move(chunks)) {}

    asio::awaitable<long> read_some(char* data, std::size_t size, std::chrono::milliseconds) override {
        ++reads;
        if (!first_buffer) first_buffer = data;  // the reader's buffer, reserved whole: it never moves
        if (chunks_.empty()) co_return timeout_at_end ? -2 : 0;
        auto& chunk = chunks_.front();
        const auto n = std::min(size, chunk.size());
        chunk.copy(data, n);
        chunk.erase(0, n);
        if (chunk.empty()) chunks_.pop_front();
        co_return static_cast<long>(n);
    }
    asio::awaitable<bool> write_all(std::string_view data, std::chrono::milliseconds) override {
        written += data;
        if (on_write) on_write(data);
        co_return true;
    }
    // What was never read stays in the socket for the backend.
    std::string unread() const {
        std::string all;
        for (const auto& c : chunks_) all += c;
        return all;
    }

    std::string written;
    int reads = 0;
    bool timeout_at_end = false;
    const char* first_buffer = nullptr;
    std::function<void(std::string_view)> on_write;

private:
    std::deque<std::string> chunks_;
};

// Stands in for the handshake: the scripted client's later chunks are what
// arrives over TLS.
class FakeTls final : public TlsStarter {
public:
    bool prepare() override { return usable; }
    std::optional<TlsInfo> start() override {
        ++handshakes;
        if (!handshake_ok) return std::nullopt;
        return TlsInfo{"TLSv1.3", "TLS_AES_128_GCM_SHA256"};
    }
    bool usable = true;
    bool handshake_ok = true;
    int handshakes = 0;
};

// One coroutine run to its end on `io`.
template <class T>
T run_to_end(asio::io_context& io, asio::awaitable<T> work) {
    std::optional<T> result;
    std::exception_ptr failed;
    asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T r) {
        failed = e;
        if (!e) result.emplace(std::move(r));
    });
    io.restart();
    io.run();
    if (failed) std::rethrow_exception(failed);
    return std::move(*result);
}

// ...on an io_context of its own.
template <class T>
T run_to_end(asio::awaitable<T> work) {
    asio::io_context io(1);
    return run_to_end(io, std::move(work));
}

inline SessionEnd run_to_end(Session&& session) {
    asio::io_context io(1);
    return session.run(io);
}

}  // namespace smtp_auth::test
