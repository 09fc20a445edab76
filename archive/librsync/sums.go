package librsync

import "golang.org/x/crypto/blake2b"

// Classic rollsum (magics 0x72730136 and 0x72730137): every byte is offset by 31, s1 is
// the sum and s2 the sum of prefix sums, both mod 2^16; weak = s2<<16 | s1.
// The state is kept mod 2^32 and masked only when a digest is taken.
const rollsumOffset = 31

// RabinKarp (magics 0x72730146 and 0x72730147): a polynomial hash
// mod 2^32 seeded with 1, so hash = MULT^n + sum c_i*MULT^(n-i).
const (
	rkSeed = 1
	rkMult = 0x08104225
	rkInv  = 0x98f009ad // rkMult^-1 mod 2^32, to shrink the window
	rkAdj  = rkMult - 1 // removing byte o costs MULT^(n-1)*(o+adj)
)

func rollsumDigest(s1, s2 uint32) uint32 {
	return s2<<16 | s1&0xffff
}

// rollsumBlock returns the raw (unmasked) s1, s2 of p.
func rollsumBlock(p []byte) (s1, s2 uint32) {
	for len(p) >= 4 {
		c0, c1, c2, c3 := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
		s2 += 4*s1 + 4*c0 + 3*c1 + 2*c2 + c3
		s1 += c0 + c1 + c2 + c3
		p = p[4:]
	}
	for _, c := range p {
		s1 += uint32(c)
		s2 += s1
	}
	return s1, s2
}

// rollsumWeak adds the per-byte offset, which depends only on the length.
func rollsumWeak(p []byte) (s1, s2 uint32) {
	s1, s2 = rollsumBlock(p)
	n := uint32(len(p))
	s1 += n * rollsumOffset
	s2 += uint32(uint64(n) * uint64(n+1) / 2 * rollsumOffset)
	return s1, s2
}

// rkBlock returns the RabinKarp hash of p and MULT^len(p).
func rkBlock(p []byte) (h, mult uint32) {
	const m2 = rkMult * rkMult % (1 << 32)
	const m3 = m2 * rkMult % (1 << 32)
	const m4 = m3 * rkMult % (1 << 32)
	h, mult = rkSeed, 1
	for len(p) >= 4 {
		h = h*m4 + uint32(p[0])*m3 + uint32(p[1])*m2 + uint32(p[2])*rkMult + uint32(p[3])
		mult *= m4
		p = p[4:]
	}
	for _, c := range p {
		h = h*rkMult + uint32(c)
		mult *= rkMult
	}
	return h, mult
}

// weakSum is the weak checksum of one whole block, as stored in a signature.
func weakSum(rabinKarp bool, p []byte) uint32 {
	if rabinKarp {
		h, _ := rkBlock(p)
		return h
	}
	return rollsumDigest(rollsumWeak(p))
}

// strongSummer computes truncated strong sums without allocating.
type strongSummer struct {
	blake2 bool
	n      uint32
	out    [blake2Len]byte
}

func newStrongSummer(blake2 bool, n uint32) *strongSummer {
	return &strongSummer{blake2: blake2, n: n}
}

// sum returns the first n bytes of the digest of p; the slice is reused by
// the next call.
func (s *strongSummer) sum(p []byte) []byte {
	if s.blake2 {
		// librsync uses BLAKE2b with a 32-byte output, which differs from a
		// truncated BLAKE2b-512.
		s.out = blake2b.Sum256(p)
		return s.out[:s.n]
	}
	m := md4Sum(p)
	copy(s.out[:], m[:])
	return s.out[:s.n]
}
