// Package hygiene holds whole-repository checks: what shipped binaries may
// link, and that generated files are current.
package hygiene

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are packages no shipped binary may link: test machinery, and
// gopacket, which is for tests and tools, never the fast path.
var forbidden = []string{"testing", "github.com/google/gopacket"}

func TestShippedBinariesLinkNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "../../cmd/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("a binary under cmd/ links %s", dep)
			}
		}
	}
}
