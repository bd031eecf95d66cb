// qmail's control/virtualdomains: which prefix a domain's addresses get.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace checkpassword_nosu {

// One "key:prefix" line. The key is a domain ("example.org"), an address
// ("user@example.org"), a wildcard (".example.org" for its subdomains) or
// empty (every domain); an empty prefix marks the key as not virtual.
struct VirtualDomain {
    std::string key;
    std::string prefix;
};

using VirtualDomains = std::vector<VirtualDomain>;

// qmail's control file rules (control_readfile): trailing spaces and tabs
// are dropped, blank lines and lines starting with '#' are skipped; the key
// ends at the first ':', and a line without ':' is ignored (as constmap does).
VirtualDomains parse_virtualdomains(std::string_view text);

// qmail-send's rewrite(): the first key that matches `address` (compared
// without regard to ASCII case) in the order: the whole address, its domain,
// each ".suffix" of the domain from the longest, then the empty key. Among
// equal keys the last line wins, as in qmail's constmap. Returns the local
// part qmail delivers to, "prefix-local", or nullopt when `address` has no
// '@', no key matches, or the matching key's prefix is empty.
std::optional<std::string> virtual_local(const VirtualDomains& domains, std::string_view address);

}  // namespace checkpassword_nosu
