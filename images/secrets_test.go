package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nfvkit/nfvkit/images/kernel"
	"github.com/nfvkit/nfvkit/pkg/config"
)

// TestSecrets: file: and env: secrets travel in the initrd, root-only, and
// only their references are reported.
func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "wg0.key")
	if err := os.WriteFile(key, []byte("yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NFV_TEST_PSK", "a pre-shared key of some length")
	policy := `appliance: ipsec-gw
interfaces:
  - {name: wan, port: virtio:0, address: [203.0.113.2/24]}
  - {name: lan, port: virtio:1, address: [192.0.2.1/24]}
ike:
  - name: hq
    peer: 203.0.113.7
    auth: {psk: env:NFV_TEST_PSK}
    children:
      - {local: 192.0.2.0/24, remote: 10.0.0.0/8}
wireguard:
  - name: wg0
    private_key: file:` + key + `
    address: [10.9.0.1/24]
    peers:
      - {public_key: "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", allowed_ips: [10.9.0.0/24]}
`
	p, err := config.Parse("gw.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := policySecrets(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 {
		t.Fatalf("%d secrets: %+v", len(secrets), secrets)
	}
	byRef := map[string]secretFile{}
	for _, s := range secrets {
		byRef[s.ref] = s
	}
	env, file := byRef["env:NFV_TEST_PSK"], byRef["file:"+key]
	if env.path != "/etc/nfvkit/env/NFV_TEST_PSK" || string(env.data) != "a pre-shared key of some length" {
		t.Errorf("env secret: %s %q", env.path, env.data)
	}
	if file.path != key || !strings.HasPrefix(string(file.data), "yAnz5") {
		t.Errorf("file secret: %s", file.path)
	}
	a, err := initrdArchive(&kernel.Kernel{Release: "test"}, nil, []byte("init"), []byte(policy), secrets)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, e := range a.Entries() {
		if e.Path == strings.TrimPrefix(key, "/") || e.Path == "etc/nfvkit/env/NFV_TEST_PSK" {
			found++
			if e.Mode != 0o400 {
				t.Errorf("%s has mode %o, want 0400", e.Path, e.Mode)
			}
		}
	}
	if found != 2 {
		t.Errorf("%d of 2 secrets in the initrd", found)
	}

	os.Unsetenv("NFV_TEST_PSK")
	if _, err := policySecrets(p); err == nil || strings.Contains(err.Error(), "pre-shared") {
		t.Errorf("unset variable: %v", err)
	}
}
