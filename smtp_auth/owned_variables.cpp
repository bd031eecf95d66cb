#include "owned_variables.hpp"

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace smtp_auth {


void clear_owned_variables() {
    // Names first: unsetenv(3) reshapes environ under the loop.
    std::vector<std::string> names;
    for (char** entry = environ; entry && *entry; ++entry) {
        const std::string_view text(*entry);
        const auto name = text.substr(0, text.find('='));
        if (name == "AUTHUSER" || name.starts_with("SSL_")) names.emplace_back(name);
    }
    for (const auto& name : names) ::unsetenv(name.c_str());
}

}  // namespace smtp_auth
