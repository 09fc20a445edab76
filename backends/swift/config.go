package swift

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	ncw "github.com/ncw/swift/v2"

	"dupfs/backends"
)

// Connect builds a connection from duplicity's variables, named with the
// given prefix ("SWIFT_" for swift://, "PCA_" for pca://), so an existing
// duplicity environment or OVH's multi:// config works unchanged. Nothing
// is sent yet: the first request logs in.
//
// Read, as duplicity's swift and pca backends read them:
//
//	<prefix>PREAUTHURL, <prefix>PREAUTHTOKEN  a storage URL and token (both, or neither)
//	<prefix>USERNAME, <prefix>PASSWORD, <prefix>AUTHURL  required otherwise
//	<prefix>AUTHVERSION         1, 2 or 3 (default: defaultAuth)
//	<prefix>TENANTNAME, <prefix>TENANTID     tenant (v2) or project (v3)
//	<prefix>REGIONNAME, <prefix>ENDPOINT_TYPE
//	<prefix>USERID, <prefix>USER_DOMAIN_NAME, <prefix>USER_DOMAIN_ID
//	<prefix>PROJECT_DOMAIN_NAME, <prefix>PROJECT_DOMAIN_ID
//
// and dupfs's own <prefix>TIMEOUT: seconds without an answer or a byte
// before a request is given up (and retried), like duplicity's --timeout
// (default: 20s to connect and answer, 2 minutes idle in a transfer).
//
// defaultAuth is the auth version when <prefix>AUTHVERSION is unset:
// duplicity's swift backend assumes 1 (tempauth), its pca backend 2.
// Errors name the variable, never a value that could be a secret; they
// are permanent (no retry fixes a configuration).
func Connect(env backends.Env, prefix string, defaultAuth int) (*ncw.Connection, error) {
	get := func(k string) string { v, _ := env(prefix + k); return v }
	c := &ncw.Connection{
		UserAgent:      "dupfs",
		ConnectTimeout: 20 * time.Second,
		// Timeout is an idle timeout: no byte for this long ends a
		// transfer (restic's watchdog), not a bound on its duration.
		Timeout: 2 * time.Minute,
		// One immediate re-authentication on a 401 (an expired token), or
		// one immediate retry of a GET or HEAD that did not connect; the
		// retry layer above does the rest, with backoff.
		Retries: 1,
	}
	if v, ok := env(prefix + "TIMEOUT"); ok {
		secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || secs <= 0 {
			return nil, backends.Permanent(fmt.Errorf("%sTIMEOUT %q: want seconds", prefix, v))
		}
		c.ConnectTimeout = time.Duration(secs * float64(time.Second))
		c.Timeout = c.ConnectTimeout
	}
	_, hasURL := env(prefix + "PREAUTHURL")
	_, hasTok := env(prefix + "PREAUTHTOKEN")
	if hasURL && hasTok {
		c.StorageUrl, c.AuthToken = get("PREAUTHURL"), get("PREAUTHTOKEN")
		return c, nil
	}
	for _, k := range []string{"USERNAME", "PASSWORD", "AUTHURL"} {
		if _, ok := env(prefix + k); !ok {
			return nil, backends.Permanent(fmt.Errorf("%s%s is not set (or give %sPREAUTHURL and %sPREAUTHTOKEN)", prefix, k, prefix, prefix))
		}
	}
	c.UserName, c.ApiKey, c.AuthUrl = get("USERNAME"), get("PASSWORD"), get("AUTHURL")
	c.AuthVersion = defaultAuth
	if v := get("AUTHVERSION"); v != "" {
		// swiftclient takes "1", "1.0", "2", "2.0", "3" and "3.0".
		switch strings.TrimSuffix(strings.TrimSpace(v), ".0") {
		case "1":
			c.AuthVersion = 1
		case "2":
			c.AuthVersion = 2
		case "3":
			c.AuthVersion = 3
		default:
			return nil, backends.Permanent(fmt.Errorf("%sAUTHVERSION %q: want 1, 2 or 3", prefix, v))
		}
	}
	// v2: TENANTNAME/TENANTID are the tenant; v3: the project (scope).
	c.Tenant, c.TenantId, c.Region = get("TENANTNAME"), get("TENANTID"), get("REGIONNAME")
	c.UserId = get("USERID")
	c.Domain, c.DomainId = get("USER_DOMAIN_NAME"), get("USER_DOMAIN_ID")
	c.TenantDomain, c.TenantDomainId = get("PROJECT_DOMAIN_NAME"), get("PROJECT_DOMAIN_ID")
	if c.AuthVersion == 3 && c.Domain == "" && c.DomainId == "" {
		// Keystone v3 needs a user domain; OVH's guide sets only the
		// project's, which is the user's too there.
		c.Domain, c.DomainId = c.TenantDomain, c.TenantDomainId
	}
	switch t := get("ENDPOINT_TYPE"); t {
	case "", "publicURL", "public":
	case "internalURL", "internal":
		c.EndpointType = ncw.EndpointTypeInternal
	case "adminURL", "admin":
		c.EndpointType = ncw.EndpointTypeAdmin
	default:
		return nil, backends.Permanent(fmt.Errorf("%sENDPOINT_TYPE %q: want publicURL, internalURL or adminURL", prefix, t))
	}
	return c, nil
}
