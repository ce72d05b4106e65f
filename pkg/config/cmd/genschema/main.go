// Command genschema writes the JSON Schema of nfvkit policies, generated
// from the Go types of package config. From the repository root:
//
//	go run ./pkg/config/cmd/genschema -o docs/policy.schema.json
//
// (or go generate ./pkg/config). A test in package config fails while the
// committed docs/policy.schema.json differs from what this writes.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nfvkit/nfvkit/pkg/config"
)

func main() {
	out := flag.String("o", "", "write the schema to this file instead of standard output")
	flag.Parse()
	b, err := config.Schema()
	if err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(b)
	} else {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genschema:", err)
		os.Exit(1)
	}
}
