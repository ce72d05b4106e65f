package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/nfvkit/nfvkit/images"
)

const buildHelp = `Builds a bootable image of the policy's appliance into DIR: vmlinuz (the
kernel), initrd (the appliance's program as /init, the policy, any kernel
modules it needs; gzip-compressed cpio) and manifest.json (what went in,
sizes, hashes, how to boot it). The policy is validated first, and every
interface must be on a virtio:N port (the image's Nth NIC). The same inputs
give the same bytes.

The kernel (--kernel):
  minimal   the default: the appliance's own kernel, tinyconfig plus only what
            it needs, everything built in (~1.3 MiB; boots in 24 MiB of RAM).
            Built from Debian's linux-source-6.1 with this machine's gcc the
            first time (a few minutes), then taken from the cache. Needs what
            'make deps' installs: linux-source-6.1 build-essential bc bison
            flex libelf-dev.
  debian    Debian's cloud kernel (linux-image-cloud-amd64), fetched with apt
            and cached; its modules go in the initrd (~14 MiB; 128 MiB of RAM).
  PACKAGE   another Debian linux-image package, fetched the same way.
  DIR       an unpacked kernel: boot/vmlinuz-* and lib/modules/* (or none,
            with everything built in and boot/config-* saying so).

/init is compiled from the nfvkit checkout nfv runs in (or --src), so the Go
toolchain is needed. The policy's file: secrets are copied into the initrd,
its env: secrets read from nfv build's environment and carried there too (the
initrd is then readable by its owner only); their values are never printed.

Example:
  nfv build examples/router.yaml -o out/router
  nfv boot out/router --nic tap:tap0 --nic tap:tap1`

func cmdBuild(args []string) int { return buildMain(args, os.Stdout, os.Stderr) }

func buildMain(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("build", "POLICY -o DIR", buildHelp)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "the image directory to write (required)")
	kernelOpt := fs.String("kernel", images.KernelMinimal, "the kernel: minimal, debian, a Debian linux-image package or an unpacked kernel's directory (see above)")
	src := fs.String("src", "", "the nfvkit checkout to compile /init from (default: the one nfv runs in)")
	cache := fs.String("cache", "", "where built and fetched kernels are kept (default $NFV_CACHE, else ~/.cache/nfvkit)")
	quiet := fs.Bool("q", false, "print only errors")
	pos, code := parseInterspersed(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 || *out == "" {
		fmt.Fprintln(stderr, "nfv build: give one policy and -o DIR\nRun 'nfv build -h' for help.")
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var log io.Writer = stderr
	if *quiet {
		log = io.Discard
	}
	m, err := images.Build(ctx, images.Options{
		Policy: pos[0], Out: *out, Src: *src, Kernel: *kernelOpt, CacheDir: *cache, Log: prefixed{"nfv build: ", log},
	})
	if err != nil {
		printPolicyErrors(stderr, err)
		return exitFailed
	}
	if !*quiet {
		fmt.Fprintf(stdout, "%s: %s image, kernel %s\n", *out, m.Appliance, m.Kernel.Release)
		for _, f := range m.Files {
			fmt.Fprintf(stdout, "  %-8s %s\n", f.Name, mib(f.Bytes))
		}
		fmt.Fprintf(stdout, "  %-8s %s (/init %s uncompressed, %d modules)\n", "total", mib(m.TotalBytes), mib(m.Init.Bytes), len(m.Modules))
		fmt.Fprintf(stdout, "boot it: nfv boot %s", *out)
		for _, n := range m.NICs {
			fmt.Fprintf(stdout, " --nic tap:TAP%d", n.Index)
		}
		fmt.Fprintln(stdout)
	}
	return exitOK
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// prefixed writes each write (a line) with a prefix.
type prefixed struct {
	prefix string
	w      io.Writer
}

func (p prefixed) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
