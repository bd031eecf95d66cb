// apoppw [-d dir] [ext]
//
// Sets the invoking user's mail password for checkpassword_nosu's apoppw
// scheme: ~/.apop for the address ~/.qmail delivers, ~/.apop-ext for the
// one ~/.qmail-ext delivers; with -d, in dir instead of the home (a virtual
// domain's directory). Reads it twice without echo (or two lines from a
// non-terminal stdin) and writes it atomically with mode 0600. Not setuid:
// it writes only where the user may. Exit 0 set; 1 refused (the two differ,
// a bad password); 100 usage; 111 the file cannot be written.
#include <cstring>
#include <pwd.h>
#include <string>
#include <string_view>
#include <unistd.h>

#include "dot_qmail.hpp"
#include "log.hpp"
#include "password_file.hpp"
#include "password_input.hpp"
#include "secret.hpp"

namespace {

int fail(int code, std::string_view event, std::string_view outcome, std::string_view why) {
    smtpauth::log_event(event, outcome, why);
    return code;
}

int config_error(std::string_view why) { return fail(100, "config", "error", why); }

int usage() { return config_error("usage: apoppw [-d dir] [ext]"); }

}  // namespace

int main(int argc, char** argv) {
    smtpauth::set_log_program("apoppw", smtpauth::LogPid::none);  // the user's, not a connection's
    std::string dir;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; ++i) {
        const std::string_view option = argv[i];
        if (option == "--") {
            ++i;
            break;
        }
        if (option != "-d" || i + 1 == argc) return usage();
        dir = argv[++i];
        if (dir.empty()) return usage();
    }
    if (argc - i > 1) return usage();
    const std::string_view ext = i < argc ? argv[i] : "";
    if (i < argc && (ext.empty() || !smtpauth::extension_is_safe(ext)))
        return config_error("the extension must not be empty or hold a '/'");

    if (::getuid() != ::geteuid() || ::getgid() != ::getegid())
        return config_error("refusing to run setuid or setgid: install apoppw mode 0755");
    if (::getuid() == 0)
        return config_error("root has no mail password; run apoppw as the user");
    if (dir.empty()) {
        const struct passwd* pw = ::getpwuid(::getuid());
        if (pw == nullptr || pw->pw_dir == nullptr || pw->pw_dir[0] == '\0')
            return fail(111, "password", "failed", "unable to find your home directory");
        dir = pw->pw_dir;
    }
    const std::string name = ".apop" + smtpauth::dot_qmail_suffix(ext.empty() ? "" : "-", ext);

    smtpauth::Secret password;
    std::string why;
    if (!apoppw::read_password_twice(0, password, why)) return fail(1, "password", "refused", why);
    if (!apoppw::write_password_file(dir, name, password.view(), why)) return fail(111, "password", "failed", why);
    smtpauth::log_event("password", "set", dir + "/" + name);
    return 0;
}
