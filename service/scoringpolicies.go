package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// An office's own scoring policies, saved under a name and versioned like
// calendar years: a new save is a new version, the old ones stay, and a
// summary says which version it scored by.

const scoringPoliciesPrefix = "scoringPolicies/"

func scoringPolicyName(id string) string { return scoringPoliciesPrefix + id }

// validPolicyName checks a saved policy's name as an id (see
// SavedScoringPolicy.name).
func validPolicyName(id string) bool { return validAccountID(id) }

// SaveScoringPolicy saves an office's scoring policy as its next version.
func (s *Server) SaveScoringPolicy(ctx context.Context, req *banliv1.SaveScoringPolicyRequest) (*banliv1.SavedScoringPolicy, error) {
	v := &violations{}
	v.requestID(req.GetRequestId())
	if req.GetPolicy() == nil {
		v.add("policy", "required")
	} else {
		validateScoringPolicy(v, "policy", req.GetPolicy())
		name := req.GetPolicy().GetName()
		switch {
		case scoringPolicies[name] != nil:
			v.add("policy.name", "%s is a built-in policy: save yours under another name", name)
		case name != "" && !validPolicyName(name):
			v.add("policy.name", "2 to 63 lowercase letters, digits and hyphens, starting with a letter, e.g. district-2024")
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.StatisticsService_SaveScoringPolicy_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.SavedScoringPolicy, error) {
		name := scoringPolicyName(req.GetPolicy().GetName())
		version := int32(1)
		latest, err := tx.ScoringPolicy(name, 0)
		switch {
		case err == nil:
			version = latest.GetVersion() + 1
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
		saved := &banliv1.SavedScoringPolicy{
			Name: name, Version: version, Policy: proto.Clone(req.GetPolicy()).(*banliv1.ScoringPolicy),
			SavedBy: callerAccount(ctx), SaveTime: timestampOf(now),
		}
		ev := newEvent(ctx, saved.GetSaveTime(), "SaveScoringPolicy", "", "", fmt.Sprintf("VERSION %d", version),
			fmt.Sprintf("%s version %d: base %s, %d conditions, %d items", name, version, formatPoints(saved.GetPolicy().GetBase()),
				len(saved.GetPolicy().GetBaseRequiresFull()), len(saved.GetPolicy().GetItems())))
		tx.PutScoringPolicy(saved, ev)
		return saved, nil
	})
}

// GetScoringPolicy returns a built-in policy or a saved one's version.
func (s *Server) GetScoringPolicy(ctx context.Context, req *banliv1.GetScoringPolicyRequest) (*banliv1.SavedScoringPolicy, error) {
	v := &violations{}
	id, ok := strings.CutPrefix(req.GetName(), scoringPoliciesPrefix)
	if !ok || (scoringPolicies[id] == nil && !validPolicyName(id)) {
		v.add("name", "%q is not a resource name like scoringPolicies/{name}", req.GetName())
	}
	if req.GetVersion() < 0 {
		v.add("version", "a version, from 1; 0 means the latest")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if builtIn := scoringPolicies[id]; builtIn != nil {
		if req.GetVersion() > 1 {
			return nil, resourceNotFound(fmt.Sprintf("%s version %d", req.GetName(), req.GetVersion()), "version")
		}
		return builtInPolicy(id), nil
	}
	var out *banliv1.SavedScoringPolicy
	err := s.store.View(func(r store.Reader) error {
		var err error
		out, err = r.ScoringPolicy(req.GetName(), req.GetVersion())
		if errors.Is(err, store.ErrNotFound) {
			return resourceNotFound(req.GetName(), "name")
		}
		return err
	})
	return out, err
}

// ListScoringPolicies lists the built-in policies, then the saved ones.
func (s *Server) ListScoringPolicies(ctx context.Context, req *banliv1.ListScoringPoliciesRequest) (*banliv1.ListScoringPoliciesResponse, error) {
	out := &banliv1.ListScoringPoliciesResponse{}
	for _, name := range []string{defaultScoringPolicy, "deductions"} {
		out.Policies = append(out.Policies, builtInPolicy(name))
	}
	err := s.store.View(func(r store.Reader) error {
		saved, err := r.ScoringPolicies()
		out.Policies = append(out.Policies, saved...)
		return err
	})
	return out, err
}

func builtInPolicy(name string) *banliv1.SavedScoringPolicy {
	return &banliv1.SavedScoringPolicy{Name: scoringPolicyName(name), Version: 1, Policy: proto.Clone(scoringPolicies[name]).(*banliv1.ScoringPolicy), BuiltIn: true}
}
