module dupfs

go 1.24

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/hashicorp/golang-lru/v2 v2.0.7
	github.com/klauspost/compress v1.19.2
	github.com/ncw/swift/v2 v2.0.5
	github.com/urfave/cli/v2 v2.27.7
	golang.org/x/crypto v0.41.0
	golang.org/x/sys v0.35.0
)

require (
	github.com/cloudflare/circl v1.6.3 // indirect
	github.com/cpuguy83/go-md2man/v2 v2.0.7 // indirect
	github.com/russross/blackfriday/v2 v2.1.0 // indirect
	github.com/xrash/smetrics v0.0.0-20240521201337-686a1a2994c1 // indirect
)
