// Command sealproxy runs the OVH PCA sealing proxy of package saio in front
// of a Swift server, for manual runs:
//
//	SWIFT_SAIO_PORT=18080 integration/saio/saio.sh start
//	go run ./integration/saio/sealproxy -upstream http://127.0.0.1:18080 -listen 127.0.0.1:18090 -delay 5s
//	PCA_AUTHURL=http://127.0.0.1:18090/auth/v1.0 PCA_USERNAME=test:tester PCA_PASSWORD=testing \
//	    PCA_AUTHVERSION=1 duplicity ... pca://container
//	curl -s http://127.0.0.1:18090/_pca/stats
package main

import (
	"flag"
	"log"
	"net/http"

	"dupfs/integration/saio"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18090", "address to serve on")
	upstream := flag.String("upstream", "http://127.0.0.1:18080", "Swift server")
	delay := flag.Duration("delay", 0, "unseal delay")
	resealAfter := flag.Duration("reseal-after", 0, "seal unsealed objects again after this (0: never)")
	quiet := flag.Bool("q", false, "do not log the answers the proxy makes itself")
	flag.Parse()

	p, err := saio.NewSealHandler(*upstream, *delay)
	if err != nil {
		log.Fatal(err)
	}
	p.SetResealAfter(*resealAfter)
	if !*quiet {
		p.Logf = log.Printf
	}
	log.Printf("sealproxy: http://%s -> %s, unseal delay %v; hooks under /_pca/", *listen, *upstream, *delay)
	log.Fatal(http.ListenAndServe(*listen, p))
}
