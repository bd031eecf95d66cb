// The programs ignore SIGPIPE in their mains (a vanished peer is an error
// return, not a death); the code under test here runs without those mains,
// so the test runner does the same, or a peer that closes first kills it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    return doctest::Context(argc, argv).run();
}
