// Secrets: wiped when they die, compared in constant time.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace smtpauth {

// Overwrite memory in a way the optimiser may not remove.
void wipe(void* data, std::size_t size) noexcept;
void wipe(std::string& s) noexcept;

// Constant time in the contents and in the lengths of the inputs.
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

// A string that holds a password, a digest or decoded SASL data. Its storage
// is reserved up front (so growing it does not leave copies behind) and wiped
// on destruction, including the in-object small-string buffer.
class Secret {
public:
    explicit Secret(std::size_t reserve = 0) { value_.reserve(reserve); }
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    Secret(Secret&& other) noexcept : value_(std::move(other.value_)) { other.clear(); }
    Secret& operator=(Secret&& other) noexcept {
        if (this != &other) { clear(); value_ = std::move(other.value_); other.clear(); }
        return *this;
    }
    ~Secret() { clear(); }

    std::string& str() noexcept { return value_; }
    const std::string& str() const noexcept { return value_; }
    std::string_view view() const noexcept { return value_; }
    std::size_t size() const noexcept { return value_.size(); }
    bool empty() const noexcept { return value_.empty(); }
    void clear() noexcept { wipe(value_); value_.clear(); }

private:
    std::string value_;
};

}  // namespace smtpauth
