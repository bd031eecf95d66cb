#include "as_user.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace smtp_auth {

using namespace smtpauth;

namespace {

// The groups the group database gives `uid`'s account, with `gid`.
std::vector<gid_t> database_groups(uid_t uid, gid_t gid) {
    std::vector<gid_t> groups{gid};
    const struct passwd* pw = ::getpwuid(uid);
    if (pw == nullptr) return groups;
    const std::string name = pw->pw_name;
    int n = static_cast<int>(account_max_groups);
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(name.c_str(), gid, groups.data(), &n) < 0) n = 0;
    groups.resize(static_cast<std::size_t>(n));
    groups.push_back(gid);
    return groups;
}

}  // namespace

AsUser as_user_from_environment() {
    AsUser a;
    if (const char* v = std::getenv("AUTH_AS_USER")) a.reporter = v;
    const auto min_uid = parse_min_uid(std::getenv(min_uid_variable));
    if (!min_uid) throw std::invalid_argument(std::string(min_uid_variable) + " must be a number from 1 to 4294967294");
    a.min_uid = *min_uid;
    return a;
}

ReportSocket::ReportSocket() {
    int s[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, s) != 0) return;
    const int on = 1;
    if (::setsockopt(s[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        ::close(s[0]);
        ::close(s[1]);
        return;
    }
    parent = s[0];
    child = s[1];
}

ReportSocket::~ReportSocket() {
    close_child();
    if (parent >= 0) ::close(parent);
}

void ReportSocket::close_child() {
    if (child >= 0) ::close(child);
    child = -1;
}

ReportOutcome receive_report(const ReportSocket& socket) {
    std::string buffer(account_max_report + 1, '\0');
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buffer.data(), buffer.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    while ((n = ::recvmsg(socket.parent, &msg, MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    if (n < 0) return {std::nullopt, "the checker's PROG reported no account"};
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return {std::nullopt, "account report too long"};
    char extra;
    if (::recv(socket.parent, &extra, 1, MSG_DONTWAIT) >= 0) return {std::nullopt, "more than one account report"};
    const cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS)
        return {std::nullopt, "account report without credentials"};
    ucred writer;
    std::memcpy(&writer, CMSG_DATA(c), sizeof writer);

    buffer.resize(static_cast<std::size_t>(n));
    auto account = parse_account_report(buffer);
    if (!account) return {std::nullopt, "malformed account report"};
    if (writer.uid == 0) return {account, ""};  // root may say what it likes
    if (account->uid != writer.uid || account->gid != writer.gid)
        return {std::nullopt, "account report names uid " + std::to_string(account->uid) + " gid " +
                                  std::to_string(account->gid) + ", but its writer runs as uid " +
                                  std::to_string(writer.uid) + " gid " + std::to_string(writer.gid)};
    const auto allowed = database_groups(account->uid, account->gid);
    for (const gid_t g : account->groups)
        if (std::find(allowed.begin(), allowed.end(), g) == allowed.end())
            return {std::nullopt, "account report names group " + std::to_string(g) + ", which uid " +
                                      std::to_string(account->uid) + " does not have"};
    return {account, ""};
}

}  // namespace smtp_auth
