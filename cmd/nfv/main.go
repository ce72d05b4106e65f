// Command nfv is the nfvkit front end: it validates policies, prints their
// schema, replays captures through an appliance, and (as the images and host
// ports land) builds, boots and runs appliances.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/nfvkit/nfvkit/pkg/config"
)

// Exit codes shared by every command.
const (
	exitOK     = 0
	exitFailed = 1 // the command ran and the answer is no (invalid policy, failed run)
	exitUsage  = 2 // the command line itself is wrong
)

type command struct {
	name, args, summary string
	run                 func(args []string) int
}

var commands []command

func init() {
	commands = []command{
		{"validate", "POLICY...", "check policies; print every error as file:line:col", cmdValidate},
		{"schema", "", "print the JSON Schema of policies", cmdSchema},
		{"run", "POLICY", "run the policy's appliance on this host's interfaces", cmdRun},
		{"replay", "POLICY --in IFACE=FILE.pcap... --out DIR", "run a policy over captures, offline", cmdReplay},
		{"build", "POLICY -o DIR", "build a bootable image of the policy's appliance", cmdBuild},
		{"boot", "DIR [--nic SPEC]...", "boot an image under QEMU and stream its console", cmdBoot},
		{"bench", "[OPTIONS]", "measure appliances on veth against Linux forwarding, same run (root)", cmdBench},
		{"version", "", "print the version", cmdVersion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "nfv — build, run and test nfvkit network appliances\n\nUsage:\n  nfv COMMAND [ARGS]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n            %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'nfv COMMAND -h' for a command's options.\n")
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) == 0 {
		usage(os.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(os.Stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:])
		}
	}
	fmt.Fprintf(os.Stderr, "nfv: unknown command %q\n\n", args[0])
	usage(os.Stderr)
	return exitUsage
}

// newFlags makes a flag set whose -h prints the command's usage and help.
func newFlags(name, args, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("nfv "+name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: nfv %s %s\n\n%s\n", name, args, help)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nOptions:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args and returns the exit code to use when parsing
// ended the command (-h or a bad flag), or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		return exitUsage
	}
	return -1
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns; code is as for parseFlags.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos []string, code int) {
	for {
		if code := parseFlags(fs, args); code >= 0 {
			return nil, code
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, -1
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), -1
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func cmdValidate(args []string) int {
	fs := newFlags("validate", "POLICY...", `Checks each policy file strictly: unknown or duplicate keys, wrong types, bad
addresses, dangling references, contradictions. Every error is printed as
file:line:col: message. Exit status: 0 all valid, 1 some invalid, 2 usage.

Example:
  nfv validate examples/*.yaml`)
	quiet := fs.Bool("q", false, "print errors only, not a line per valid policy")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "nfv validate: no policy given")
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		p, err := config.Load(path)
		if err != nil {
			printPolicyErrors(os.Stderr, err)
			code = exitFailed
			continue
		}
		if !*quiet {
			fmt.Printf("%s: valid %s policy\n", path, p.Appliance)
		}
	}
	return code
}

// printPolicyErrors prints a loader error one line per problem.
func printPolicyErrors(w io.Writer, err error) {
	var list config.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func cmdSchema(args []string) int {
	fs := newFlags("schema", "", `Prints the JSON Schema that policies follow, for editors that validate YAML
as it is typed (yaml-language-server, VS Code).`)
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	s, err := config.Schema()
	if err != nil {
		fmt.Fprintln(os.Stderr, "nfv schema:", err)
		return exitFailed
	}
	os.Stdout.Write(s)
	return exitOK
}

// version is set at link time (-ldflags "-X main.version=v1.2.3").
var version = ""

func cmdVersion(args []string) int {
	fs := newFlags("version", "", "Prints nfv's version and the Go version it was built with.")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	v, goV := version, "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goV = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 && (v == "" || v == "(devel)") {
				v = "devel-" + s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Printf("nfv %s (%s)\n", v, goV)
	return exitOK
}
