// Command gen writes the example captures of package captures into a
// directory (default: the current one, which `go generate` makes
// examples/captures).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/nfvkit/nfvkit/examples/captures"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the captures to")
	flag.Parse()
	var names []string
	for name := range captures.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		data, err := captures.Build(name)
		if err == nil {
			err = os.WriteFile(filepath.Join(*dir, name), data, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen: %s: %v\n", name, err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s (%d bytes)\n", filepath.Join(*dir, name), len(data))
	}
}
