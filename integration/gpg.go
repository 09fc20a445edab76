package integration

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// GenerateKey makes a gpg key pair (GnuPG's default algorithms, protected
// by passphrase) in env's GNUPGHOME and exports its secret key, armored,
// to a file for dupfs. It returns the key's fingerprint and that file.
func GenerateKey(t testing.TB, env Env, passphrase string) (fpr, secretKeyFile string) {
	t.Helper()
	gpg := func(args ...string) Result {
		t.Helper()
		argv := append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase}, args...)
		r := Run(t.Context(), env.List(), "gpg", argv...)
		if r.Code != 0 {
			t.Fatalf("gpg failed: %v", r)
		}
		return r
	}
	gpg("--quick-gen-key", "dupfs test <t@example.org>", "default", "default", "never")
	fpr = primaryFingerprint(gpg("--with-colons", "--list-secret-keys").Stdout)
	if fpr == "" {
		t.Fatal("gpg: no fingerprint for the generated key")
	}
	armored := gpg("--armor", "--export-secret-keys", fpr).Stdout
	if !bytes.Contains(armored, []byte("BEGIN PGP PRIVATE KEY BLOCK")) {
		t.Fatalf("gpg --export-secret-keys gave no armored key:\n%s", armored)
	}
	secretKeyFile = filepath.Join(t.TempDir(), "secret.asc")
	if err := os.WriteFile(secretKeyFile, armored, 0o600); err != nil {
		t.Fatal(err)
	}
	return fpr, secretKeyFile
}

// primaryFingerprint finds the fingerprint of the first secret key in
// `gpg --with-colons` output: the first "fpr" record after a "sec" record.
func primaryFingerprint(colons []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(colons))
	inSec := false
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		switch {
		case fields[0] == "sec":
			inSec = true
		case fields[0] == "fpr" && inSec && len(fields) > 9:
			return fields[9]
		}
	}
	return ""
}
