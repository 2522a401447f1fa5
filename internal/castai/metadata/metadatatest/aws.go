// Package metadatatest has loopback fakes of the cloud services that cluster metadata discovery
// talks to, speaking the real protocols: AWS IMDSv2 and the EC2 Query API's DescribeInstances.
// Unit tests of package metadata and the integration tests share them.
package metadatatest

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Values the AWS fakes answer with and expect.
const (
	// IMDSToken is the IMDSv2 session token the IMDS fake hands out and requires.
	IMDSToken = "imds-session-token"
	// InstanceID is the instance the identity document describes and DescribeInstances knows.
	InstanceID = "i-0abc"
	// AccountID is the AWS account of IdentityDocument.
	AccountID = "123456789012"
	// Region is the region of IdentityDocument.
	Region = "eu-central-1"
	// IdentityDocument is IMDS's instance identity document of InstanceID.
	IdentityDocument = `{"accountId":"123456789012","region":"eu-central-1","instanceId":"i-0abc","availabilityZone":"eu-central-1a","instanceType":"m6i.large"}`

	// RoleName is the node's IAM role, served by IMDS when IMDS.Role is set to it.
	RoleName = "eks-node-role"
	// RoleAccessKeyID is the access key of the node role's temporary credentials.
	RoleAccessKeyID = "ASIANODEROLEKEY"
	// RoleSecretAccessKey is the secret key of the node role's temporary credentials.
	RoleSecretAccessKey = "node-role-secret-access-key"
	// RoleSessionToken is the session token of the node role's temporary credentials.
	RoleSessionToken = "node-role-session-token"
)

// IMDS speaks IMDSv2: a PUT for a session token, then GETs carrying it (401 without).
type IMDS struct {
	// IdentityDocument is the answer to /latest/dynamic/instance-identity/document.
	IdentityDocument string
	// Tags are the instance tags IMDS exposes; nil: tags not enabled in IMDS (404), the EC2 default.
	Tags map[string]string
	// Role is the node's IAM role; "": no instance profile (404).
	Role string

	mu       sync.Mutex
	requests []string
}

// ServeHTTP answers one IMDS request.
func (f *IMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		f.token(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != IMDSToken {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if body, ok := f.answer(r.URL.Path); ok {
		_, _ = w.Write([]byte(body))
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

// Requests returns "METHOD /path" of every request so far.
func (f *IMDS) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// token hands out a session token as IMDSv2 does: PUT, a TTL of 1..21600 s, no X-Forwarded-For.
func (f *IMDS) token(w http.ResponseWriter, r *http.Request) {
	ttl := r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")
	n, err := strconv.Atoi(ttl)
	switch {
	case r.Method != http.MethodPut:
		w.WriteHeader(http.StatusMethodNotAllowed)
	case r.Header.Get("X-Forwarded-For") != "":
		w.WriteHeader(http.StatusForbidden)
	case err != nil || n < 1 || n > 21600:
		w.WriteHeader(http.StatusBadRequest)
	default:
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		_, _ = w.Write([]byte(IMDSToken))
	}
}

// answer returns the text of a GET path, or false for a 404.
func (f *IMDS) answer(p string) (string, bool) {
	const creds, tags = "/latest/meta-data/iam/security-credentials/", "/latest/meta-data/tags/instance"
	switch {
	case p == "/latest/dynamic/instance-identity/document":
		return f.IdentityDocument, true
	case p == creds && f.Role != "":
		return f.Role, true
	case p == creds+f.Role && f.Role != "":
		return roleCredentials(), true
	case p == tags && f.Tags != nil:
		keys := make([]string, 0, len(f.Tags))
		for k := range f.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return strings.Join(keys, "\n"), true
	case strings.HasPrefix(p, tags+"/") && f.Tags != nil:
		v, ok := f.Tags[strings.TrimPrefix(p, tags+"/")]
		return v, ok
	}
	return "", false
}

// roleCredentials is IMDS's answer for the node role's temporary credentials.
func roleCredentials() string {
	b, _ := json.Marshal(map[string]string{
		"Code": "Success", "LastUpdated": time.Now().UTC().Format(time.RFC3339), "Type": "AWS-HMAC",
		"AccessKeyId": RoleAccessKeyID, "SecretAccessKey": RoleSecretAccessKey, "Token": RoleSessionToken,
		"Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
	return string(b)
}

// EC2 speaks the EC2 Query API for DescribeInstances (POST form, SigV4-signed, XML answer).
type EC2 struct {
	// Tags are the tags of InstanceID.
	Tags map[string]string
	// Refuse is the HTTP status of a refusal (0: answer).
	Refuse int
	// Code is the refusal's EC2 error code (AuthFailure, UnauthorizedOperation, ...).
	Code string
	// KeyID is the access key the request must be signed with (else 401 AuthFailure).
	KeyID string
	// Token is the session token the request must carry ("": none).
	Token string

	mu      sync.Mutex
	regions []string // the signing region of each call
}

var credentialScope = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/ec2/aws4_request`)

// ServeHTTP answers one EC2 API request.
func (f *EC2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		ec2Error(w, http.StatusBadRequest, "InvalidAction", "POST a form")
		return
	}
	scope := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
	f.mu.Lock()
	if scope != nil {
		f.regions = append(f.regions, scope[2])
	}
	f.mu.Unlock()
	switch {
	case r.Form.Get("Action") != "DescribeInstances" || r.Form.Get("Version") == "":
		ec2Error(w, http.StatusBadRequest, "InvalidAction", "The action is not valid for this web service.")
	case scope == nil || scope[1] != f.KeyID || r.Header.Get("X-Amz-Security-Token") != f.Token:
		ec2Error(w, http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
	case f.Refuse == http.StatusUnauthorized:
		ec2Error(w, f.Refuse, f.Code, "AWS was not able to validate the provided access credentials")
	case f.Refuse != 0:
		ec2Error(w, f.Refuse, f.Code, "You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/"+
			RoleName+"/i-0abc is not authorized to perform: ec2:DescribeInstances")
	case r.Form.Get("InstanceId.1") != InstanceID:
		ec2Error(w, http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID does not exist")
	default:
		f.describe(w)
	}
}

// Calls returns the signing region of each DescribeInstances call so far.
func (f *EC2) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.regions...)
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2Instance struct {
	InstanceID string   `xml:"instanceId"`
	Tags       []ec2Tag `xml:"tagSet>item"`
}

type ec2Reservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []ec2Instance `xml:"instancesSet>item"`
}

type describeInstancesResponse struct {
	XMLName      xml.Name         `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeInstancesResponse"`
	RequestID    string           `xml:"requestId"`
	Reservations []ec2Reservation `xml:"reservationSet>item"`
}

// describe writes the DescribeInstancesResponse for InstanceID.
func (f *EC2) describe(w http.ResponseWriter) {
	in := ec2Instance{InstanceID: InstanceID}
	for k, v := range f.Tags {
		in.Tags = append(in.Tags, ec2Tag{Key: k, Value: v})
	}
	resp := describeInstancesResponse{RequestID: "req-1", Reservations: []ec2Reservation{
		{ReservationID: "r-1", OwnerID: AccountID, Instances: []ec2Instance{in}},
	}}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(resp)
}

// ec2Error writes an EC2 Query API error document.
func ec2Error(w http.ResponseWriter, status int, code, msg string) {
	type errDoc struct {
		XMLName   xml.Name `xml:"Response"`
		Code      string   `xml:"Errors>Error>Code"`
		Message   string   `xml:"Errors>Error>Message"`
		RequestID string   `xml:"RequestID"`
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(errDoc{Code: code, Message: msg, RequestID: "req-2"})
}
