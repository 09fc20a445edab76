package writer

import (
	"errors"
	"sync"

	"dupfs/archive/crypt"
)

// keyPool derives passphrase keys ahead of the files that use them, on
// its own goroutine. Every encrypted file gets its own salt, and its key
// costs 65 MB of SHA-1 (75-250 ms): derived in place, that stalled the
// packer at each volume and was most of the serial end of a run, where the
// signatures and manifest are encrypted, and of a small incremental.
//
// Keys are ordered as they will be needed, so none is wasted: the first
// volume's, the signatures' and the manifest's at the start, and one more
// whenever a further volume starts.
type keyPool struct {
	pass  []byte
	mu    sync.Mutex
	cond  sync.Cond
	ready []*crypt.PassphraseKey
	want  int // keys ordered, not yet derived
	err   error
	stop  bool
}

// newKeyPool starts deriving n keys from pass.
func newKeyPool(pass []byte, n int) *keyPool {
	p := &keyPool{pass: pass, want: n}
	p.cond.L = &p.mu
	go p.run()
	return p
}

func (p *keyPool) run() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.want == 0 && !p.stop {
			p.cond.Wait()
		}
		if p.stop {
			return
		}
		p.mu.Unlock()
		k, err := crypt.DerivePassphraseKey(p.pass)
		p.mu.Lock()
		p.want--
		if err != nil && p.err == nil {
			p.err = err
		}
		if err == nil {
			p.ready = append(p.ready, k)
		}
		p.cond.Broadcast()
	}
}

// take returns a derived key, waiting for the one in progress; more orders
// another for later.
func (p *keyPool) take(more bool) (*crypt.PassphraseKey, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if more {
		p.want++
		p.cond.Broadcast()
	}
	for len(p.ready) == 0 && p.err == nil {
		if p.stop {
			return nil, errors.New("passphrase keys: the backup is over")
		}
		if p.want == 0 {
			// More files than ordered: never wait for nothing.
			p.want++
			p.cond.Broadcast()
		}
		p.cond.Wait()
	}
	if len(p.ready) == 0 {
		return nil, p.err
	}
	k := p.ready[0]
	p.ready = p.ready[1:]
	return k, nil
}

// close stops deriving; a derivation under way finishes in the background.
func (p *keyPool) close() {
	p.mu.Lock()
	p.stop = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// encryptOptions returns the options for one more encrypted file: with a
// pool, its own key derived ahead. more is as for take.
func (p *keyPool) encryptOptions(o crypt.EncryptOptions, more bool) (crypt.EncryptOptions, error) {
	if p == nil {
		return o, nil
	}
	k, err := p.take(more)
	if err != nil {
		return o, err
	}
	o.Key = k
	return o, nil
}
