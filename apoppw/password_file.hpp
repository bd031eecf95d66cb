// Writing the mail password file: atomically, mode 0600.
#pragma once
#include <string>
#include <string_view>

namespace apoppw {

// Writes `password` and a newline to `dir`/`name`: a new file of mode 0600 in
// `dir` (so that it is on the same file system), written, fsync'ed, then
// renamed over `name`, and `dir` fsync'ed. A reader sees the old file or the
// new one, never a part. False with `why` (the temporary file is removed).
bool write_password_file(const std::string& dir, const std::string& name,
                         std::string_view password, std::string& why);

}  // namespace apoppw
