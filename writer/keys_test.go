package writer

import (
	"bytes"
	"io"
	"testing"

	"dupfs/archive/crypt"
)

// A run with three volumes takes five keys (three volumes, signatures,
// manifest), each decrypting its own file, and none is derived in vain.
func TestKeyPool(t *testing.T) {
	pass := []byte("pw")
	p := newKeyPool(pass, 3)
	defer p.close()
	for i, more := range []bool{false, true, true, false, false} {
		o, err := p.encryptOptions(crypt.EncryptOptions{Passphrase: pass}, more)
		if err != nil {
			t.Fatal(err)
		}
		var ct bytes.Buffer
		w, err := crypt.Encrypt(&ct, o)
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		w.Write([]byte{byte(i)})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := crypt.Decrypt(&ct, crypt.Keys{Passphrase: pass})
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("file %d: read %v, %v", i, got, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.want != 0 || len(p.ready) != 0 {
		t.Errorf("%d keys ordered and %d ready after the run, want none", p.want, len(p.ready))
	}
}
