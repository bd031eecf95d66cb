#include "idle_deadline.hpp"

namespace smtpproxy {

asio::awaitable<bool> IdleDeadline::passed() {
    while (!stopped_ && deadline_ > Clock::now()) {
        timer_.expires_at(deadline_);
        Error ignored;
        co_await timer_.async_wait(into(ignored));
    }
    co_return !stopped_;
}

void IdleDeadline::stop() {
    stopped_ = true;
    timer_.cancel();
}

}  // namespace smtpproxy
