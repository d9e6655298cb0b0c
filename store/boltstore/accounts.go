package boltstore

import (
	"bytes"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Accounts are keyed by their id (the last part of their name), not by a
// number: the id is what a caller's key carries, so signing in is one Get.
// account_certificates maps a TLS client certificate's common name to the
// account id, so that a certificate sign-in is one Get too.

// PutAccount stages an account and the event that records its change, and
// keeps the certificate index in step.
func (tx *txn) PutAccount(a *banliv1.Account, ev *banliv1.Event) {
	tx.stage(stagedWrite{kind: store.KindAccount, key: accountKey(a.GetName()), value: a, event: ev})
}

// Account returns the account with the given id, or store.ErrNotFound.
func (r *reader) Account(id string) (*banliv1.Account, error) {
	v := r.btx.Bucket(bucketAccounts).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("account %q: %w", id, store.ErrNotFound)
	}
	a := &banliv1.Account{}
	if err := proto.Unmarshal(v, a); err != nil {
		return nil, fmt.Errorf("decode account %q: %w", id, err)
	}
	return a, nil
}

// AccountByCertificate returns the id of the account that a client
// certificate with this common name signs in as, or "".
func (r *reader) AccountByCertificate(commonName string) (string, error) {
	return string(r.btx.Bucket(bucketAccountCertificates).Get([]byte(commonName))), nil
}

// HasAccounts reports whether any account exists.
func (r *reader) HasAccounts() (bool, error) {
	k, _ := r.btx.Bucket(bucketAccounts).Cursor().First()
	return k != nil, nil
}

// ListAccounts returns up to limit accounts with ids after the given one,
// in id order, and whether more follow.
func (r *reader) ListAccounts(after string, limit int) ([]*banliv1.Account, bool, error) {
	c := r.btx.Bucket(bucketAccounts).Cursor()
	var out []*banliv1.Account
	k, v := c.Seek([]byte(after))
	if k != nil && after != "" && bytes.Equal(k, []byte(after)) {
		k, v = c.Next()
	}
	for ; k != nil; k, v = c.Next() {
		if len(out) == limit {
			return out, true, nil
		}
		a := &banliv1.Account{}
		if err := proto.Unmarshal(v, a); err != nil {
			return nil, false, fmt.Errorf("decode account %q: %w", k, err)
		}
		out = append(out, a)
	}
	return out, false, nil
}

// reindexAccount moves an account's certificate entry from its old record
// to the new one.
func (tx *txn) reindexAccount(old []byte, a *banliv1.Account) error {
	certs := tx.btx.Bucket(bucketAccountCertificates)
	if old != nil {
		prev := &banliv1.Account{}
		if err := proto.Unmarshal(old, prev); err != nil {
			return fmt.Errorf("decode account %s: %w", a.GetName(), err)
		}
		if cn := prev.GetCertificateCommonName(); cn != "" {
			if err := certs.Delete([]byte(cn)); err != nil {
				return err
			}
		}
	}
	if cn := a.GetCertificateCommonName(); cn != "" {
		return certs.Put([]byte(cn), accountKey(a.GetName()))
	}
	return nil
}

// accountKey is the key of the account named accounts/{id}.
func accountKey(name string) []byte {
	return []byte(name[strings.IndexByte(name, '/')+1:])
}
