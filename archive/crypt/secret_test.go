package crypt

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestSecretNeverPrinted: no fmt verb shows a passphrase, alone or inside
// the structs that carry one.
func TestSecretNeverPrinted(t *testing.T) {
	const pass = "Sekr1t-fmt-probe"
	s := Secret(pass)
	values := []struct {
		name string
		v    any
	}{
		{"Secret", s},
		{"*Secret", &s},
		{"Keys", Keys{Passphrase: []byte(pass)}},
		{"*Keys", &Keys{Passphrase: []byte(pass)}},
		{"EncryptOptions", EncryptOptions{Passphrase: []byte(pass)}},
		{"nested", struct {
			Name string
			K    Keys
			E    *EncryptOptions
		}{"x", Keys{Passphrase: s}, &EncryptOptions{Passphrase: s}}},
		{"wrapped error", fmt.Errorf("open: %v: %w", Keys{Passphrase: s}, errors.New("boom"))},
	}
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
			out := fmt.Sprintf(verb, v.v)
			hex := fmt.Sprintf("%x", pass)
			if strings.Contains(out, pass) || strings.Contains(strings.ToLower(out), hex) || strings.Contains(out, fmt.Sprint([]byte(pass))) {
				t.Errorf("%s with %s leaks: %s", v.name, verb, out)
			}
		}
	}
	if got := fmt.Sprint(Secret(nil)); got != "(none)" {
		t.Errorf("empty secret prints %q, want (none)", got)
	}
}
