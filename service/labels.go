package service

import (
	"context"
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
)

// ListLabels lists how people name the API's enum values, from the
// catalogues of service/i18n.
func (s *Server) ListLabels(ctx context.Context, req *banliv1.ListLabelsRequest) (*banliv1.ListLabelsResponse, error) {
	out := &banliv1.ListLabelsResponse{}
	for _, e := range allLabels() {
		if req.GetEnum() == "" || e.GetEnum() == req.GetEnum() {
			out.Enums = append(out.Enums, e)
		}
	}
	if len(out.Enums) == 0 {
		return nil, invalidField("enum", "%q is no enum of the API; give a full name like banli.v1.AssignmentRole", req.GetEnum())
	}
	return out, nil
}

// allLabels are the labels of every enum of the API, in name order: the
// enums and the catalogues are fixed, so they are read once. Answers share
// them, and nothing changes them.
var allLabels = sync.OnceValue(func() []*banliv1.EnumLabels {
	var enums []protoreflect.EnumDescriptor
	protoregistry.GlobalTypes.RangeEnums(func(et protoreflect.EnumType) bool {
		if ed := et.Descriptor(); ed.ParentFile().Package() == "banli.v1" {
			enums = append(enums, ed)
		}
		return true
	})
	slices.SortFunc(enums, func(a, b protoreflect.EnumDescriptor) int {
		return strings.Compare(string(a.FullName()), string(b.FullName()))
	})
	var out []*banliv1.EnumLabels
	for _, ed := range enums {
		labels := &banliv1.EnumLabels{Enum: string(ed.FullName())}
		for i := range ed.Values().Len() {
			v := ed.Values().Get(i)
			if v.Number() == 0 {
				continue
			}
			name := string(v.Name())
			labels.Values = append(labels.Values, &banliv1.ValueLabel{Value: name, Number: int32(v.Number()),
				Zh: i18n.Label(i18n.Chinese, name), En: i18n.Label(i18n.English, name)})
		}
		out = append(out, labels)
	}
	return out
})
