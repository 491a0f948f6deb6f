// Command kratos is the Ory Kratos server, built from the github.com/ory/kratos
// module at the version pinned in go.mod, for tests and local development of
// cdp. It is kratos's own main, unchanged: see
// github.com/ory/kratos@v1.3.1/main.go.
//
// This is a module of its own so that cdp never depends on Kratos: the root
// module's go build ./... and go vet ./... stop at this directory's go.mod.
// Build it with `make kratos`, which writes bin/kratos at the repository
// root; the build needs cgo and the sqlite tag (for dsn: memory).
// kratos.yml and identity.schema.json beside this file configure it.
package main

import (
	"os"

	"github.com/ory/kratos/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
