package swift

import (
	"fmt"
	"strconv"
	"time"

	ncw "github.com/ncw/swift/v2"

	"dupfs/backends"
)

// Connect builds a connection from duplicity's variables, named with the
// given prefix ("SWIFT_" for swift://, "PCA_" for pca://), so an existing
// duplicity environment or OVH's multi:// config works unchanged. Nothing
// is sent yet: the first request logs in.
//
// defaultAuth is the auth version when <prefix>AUTHVERSION is unset:
// duplicity's swift backend assumes 1 (tempauth), its pca backend 2.
func Connect(env backends.Env, prefix string, defaultAuth int) (*ncw.Connection, error) {
	get := func(k string) string { v, _ := env(prefix + k); return v }
	c := &ncw.Connection{
		UserAgent:      "dupfs",
		ConnectTimeout: 20 * time.Second,
		Timeout:        2 * time.Minute,
	}
	if url, tok := get("PREAUTHURL"), get("PREAUTHTOKEN"); url != "" && tok != "" {
		c.StorageUrl, c.AuthToken = url, tok
		return c, nil
	}
	for _, k := range []string{"USERNAME", "PASSWORD", "AUTHURL"} {
		if _, ok := env(prefix + k); !ok {
			return nil, fmt.Errorf("%s%s is not set (or give %sPREAUTHURL and %sPREAUTHTOKEN)", prefix, k, prefix, prefix)
		}
	}
	c.UserName, c.ApiKey, c.AuthUrl = get("USERNAME"), get("PASSWORD"), get("AUTHURL")
	c.AuthVersion = defaultAuth
	if v := get("AUTHVERSION"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 3 {
			return nil, fmt.Errorf("%sAUTHVERSION %q: want 1, 2 or 3", prefix, v)
		}
		c.AuthVersion = n
	}
	c.Tenant, c.TenantId, c.Region = get("TENANTNAME"), get("TENANTID"), get("REGIONNAME")
	c.UserId = get("USERID")
	c.Domain, c.DomainId = get("USER_DOMAIN_NAME"), get("USER_DOMAIN_ID")
	c.TenantDomain, c.TenantDomainId = get("PROJECT_DOMAIN_NAME"), get("PROJECT_DOMAIN_ID")
	if c.AuthVersion == 3 && c.Domain == "" && c.DomainId == "" {
		// Keystone v3 needs a user domain; OVH's guide sets only the
		// project's, which is the user's too there.
		c.Domain, c.DomainId = c.TenantDomain, c.TenantDomainId
	}
	switch get("ENDPOINT_TYPE") {
	case "", "publicURL", "public":
	case "internalURL", "internal":
		c.EndpointType = ncw.EndpointTypeInternal
	case "adminURL", "admin":
		c.EndpointType = ncw.EndpointTypeAdmin
	default:
		return nil, fmt.Errorf("%sENDPOINT_TYPE %q: want publicURL, internalURL or adminURL", prefix, get("ENDPOINT_TYPE"))
	}
	return c, nil
}
