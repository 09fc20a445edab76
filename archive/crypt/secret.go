package crypt

import (
	"fmt"
	"io"
)

// Secret is a passphrase. fmt never shows its bytes, under any verb, so an
// error, a log line or a %v of a struct holding one cannot leak it.
// A []byte converts to it and back implicitly.
type Secret []byte

// redacted is what fmt shows of a Secret.
func (s Secret) redacted() string {
	if len(s) == 0 {
		return "(none)"
	}
	return "(redacted)"
}

func (s Secret) String() string   { return s.redacted() }
func (s Secret) GoString() string { return "crypt.Secret" + s.redacted() }

// Format is used by fmt for every verb, %x and %q included.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.redacted())
}

// Format shows which kinds of key are present, never their material.
func (k Keys) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "crypt.Keys{Passphrase: %s, Secret: %d key(s)}", k.Passphrase, len(k.Secret))
}

// Format shows which kinds of key are present, never their material.
func (o EncryptOptions) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "crypt.EncryptOptions{Passphrase: %s, Recipients: %d, Hidden: %d, Signer: %t, Key: %t}",
		o.Passphrase, len(o.Recipients), len(o.Hidden), o.Signer != nil, o.Key != nil)
}
