// Command etcd is etcd v3.6's own server entry point, linked into this module
// so that one `go build` produces the whole control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
