// Moves bytes from one descriptor to another: one direction of the relay.
//
// With a pipe at either end (the backend's side always is one), splice(2)
// moves them inside the kernel: page references pass from the socket to
// the pipe or back, and no byte is copied through smtpproxy. Once the
// backend falls behind a client's socket, they pass through a pipe of the
// pump's own on the way (see stage()). Where the kernel refuses (no pipe at
// either end, or a kind of file splice(2) does not take), the pump falls
// back, for good, to read(2) and write(2) through a buffer of its own.
//
// Both descriptors must be non-blocking: step() never waits, it says what
// to wait for.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace smtpproxy {

class Pump {
public:
    enum class Step {
        moved,        // some bytes went through
        eof,          // the source is done and everything read is written
        wait_read,    // nothing to read now: wait until the source is readable
        wait_write,   // the destination is full: wait until it is writable
        retry_later,  // both ends look ready, yet nothing moves: wait a moment
        error,        // error() says why
    };

    static constexpr std::size_t splice_size = 1 << 20;  // the pipe's capacity bounds it
    static constexpr std::size_t buffer_size = 64 * 1024;
    // The staging pipe's size: fs.pipe-max-size's default, the most an
    // unprivileged process may ask for. See stage().
    static constexpr std::size_t stage_size = 1 << 20;

    // `first`: bytes that go to `to` before anything read from `from`.
    Pump(int from, int to, std::string first = {})
        : from_(from), to_(to), first_(std::move(first)) {}
    ~Pump();
    Pump(const Pump&) = delete;
    Pump& operator=(const Pump&) = delete;

    Step step();

    // errno of the error.
    int error() const noexcept { return error_; }

private:
    Step write_first();
    Step splice_step();
    void stage();
    Step staged_step();
    Step copy_step();
    Step blocked();

    int from_;
    int to_;
    std::string first_;
    std::size_t first_written_ = 0;
    bool splicing_ = true;
    int error_ = 0;
    int spurious_ = 0;                // EAGAINs in a row with both ends ready
    bool staging_checked_ = false;    // stage() has been called
    int stage_[2] = {-1, -1};         // the pump's own pipe, once staging
    std::size_t staged_ = 0;          // bytes in it
    std::unique_ptr<char[]> buffer_;  // only when copying
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

// A pipe wakes its writer as soon as one page of it is free. A backend that
// reads a page at a time (as qmail-smtpd and mailfront do) would so cost
// the relay a wakeup for every page of a message. Instead, once the backend
// is seen draining a full pipe, the relay lets it drain for a while before
// filling it again in one go. The pause adapts so that the pipe is about
// half empty when the relay comes back: the backend never runs dry. A
// backend that stops reading stops the pacing: the relay then waits for
// the pipe to become writable, as it would without it.
class Pacer {
public:
    using Duration = std::chrono::microseconds;
    static constexpr Duration shortest{50};
    static constexpr Duration longest{10000};

    // The pipe is full. True: pause() first, then tell drained() what is
    // left of what was there. False: wait until it is writable, then woke().
    bool pacing() const noexcept { return draining_; }
    Duration pause() const noexcept { return pause_; }

    void woke() noexcept { draining_ = true; }
    // After a pause: `left` bytes still in the pipe that held `full` bytes
    // when it was full (bytes, not capacity: how many a full pipe holds
    // depends on how they came).
    void drained(std::size_t left, std::size_t full) noexcept;

private:
    bool draining_ = false;
    Duration pause_{200};
};

}  // namespace smtpproxy
