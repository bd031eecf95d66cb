// The environment variables smtp_auth speaks for: AUTHUSER (a login) and
// SSL_* (the TLS relay's protocol and cipher). Whatever the launcher put
// there would pass, down the chain, for what smtp_auth checked.
#pragma once

namespace smtp_auth {

// Removes AUTHUSER and every variable whose name starts with SSL_, so that
// only what smtp_auth sets itself reaches the chain.
void clear_owned_variables();

}  // namespace smtp_auth
