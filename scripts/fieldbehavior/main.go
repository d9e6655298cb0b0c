// Command fieldbehavior writes google/api/field_behavior.proto for
// scripts/generate. No module the Go proxy serves here ships that file's
// source, so it is written from the descriptor compiled into the pinned
// genproto module (the same declarations, printed): the extension on
// FieldOptions and the FieldBehavior enum. It goes to third_party/, which
// git ignores, like the other googleapis protos.
package main

import (
	"fmt"
	"os"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	fd := protodesc.ToFileDescriptorProto(annotations.File_google_api_field_behavior_proto)
	var b strings.Builder
	fmt.Fprintf(&b, "// Written by scripts/fieldbehavior from the descriptor of %s.\n", fd.GetName())
	fmt.Fprintf(&b, "syntax = %q;\n\npackage %s;\n\n", fd.GetSyntax(), fd.GetPackage())
	for _, dep := range fd.GetDependency() {
		fmt.Fprintf(&b, "import %q;\n", dep)
	}
	fmt.Fprintf(&b, "\noption go_package = %q;\n", fd.GetOptions().GetGoPackage())
	for _, ext := range fd.GetExtension() {
		label := ""
		if ext.GetLabel() == descriptorpb.FieldDescriptorProto_LABEL_REPEATED {
			label = "repeated "
		}
		opts := ""
		if ext.GetOptions() != nil && ext.GetOptions().Packed != nil {
			opts = fmt.Sprintf(" [packed = %t]", ext.GetOptions().GetPacked())
		}
		fmt.Fprintf(&b, "\nextend %s {\n  %s%s %s = %d%s;\n}\n",
			strings.TrimPrefix(ext.GetExtendee(), "."), label, strings.TrimPrefix(ext.GetTypeName(), "."), ext.GetName(), ext.GetNumber(), opts)
	}
	for _, e := range fd.GetEnumType() {
		fmt.Fprintf(&b, "\nenum %s {\n", e.GetName())
		for _, v := range e.GetValue() {
			fmt.Fprintf(&b, "  %s = %d;\n", v.GetName(), v.GetNumber())
		}
		b.WriteString("}\n")
	}
	if _, err := os.Stdout.WriteString(b.String()); err != nil {
		os.Exit(1)
	}
}
