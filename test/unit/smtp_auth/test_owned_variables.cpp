// smtp_auth speaks for AUTHUSER and SSL_*: the launcher's are removed.
#include <doctest/doctest.h>

#include <cstdlib>
#include <initializer_list>
#include <string>

#include "owned_variables.hpp"

using namespace smtp_auth;

TEST_CASE("AUTHUSER and every SSL_ variable go, RELAYCLIENT and TCPREMOTEINFO stay") {
    for (const char* name : {"AUTHUSER", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_S_DN", "SSL_"})
        ::setenv(name, "forged", 1);
    ::setenv("RELAYCLIENT", "", 1);
    ::setenv("TCPREMOTEINFO", "ident", 1);
    ::setenv("XSSL_KEEP", "1", 1);
    clear_owned_variables();
    for (const char* name : {"AUTHUSER", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_S_DN", "SSL_"}) {
        CAPTURE(name);
        CHECK(std::getenv(name) == nullptr);
    }
    CHECK(std::getenv("RELAYCLIENT") != nullptr);
    CHECK(std::string(std::getenv("TCPREMOTEINFO")) == "ident");
    CHECK(std::getenv("XSSL_KEEP") != nullptr);
    for (const char* name : {"RELAYCLIENT", "TCPREMOTEINFO", "XSSL_KEEP"}) ::unsetenv(name);
}
