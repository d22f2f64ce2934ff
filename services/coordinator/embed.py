#!/usr/bin/env python3
"""Embeds a file in C as `const unsigned char NAME[]` (NUL-terminated) and
`const size_t NAME_len` (without the NUL). Usage: embed.py INPUT OUTPUT NAME"""
import sys


def main():
    src, dst, name = sys.argv[1:4]
    with open(src, "rb") as f:
        data = f.read()
    lines = ["/* Generated from %s by embed.py: do not edit. */" % src.rsplit("/", 1)[-1],
             "#include <stddef.h>",
             "extern const unsigned char %s[];" % name,
             "extern const size_t %s_len;" % name,
             "const unsigned char %s[] = {" % name]
    body = list(data) + [0]
    for i in range(0, len(body), 16):
        lines.append("    " + ", ".join("0x%02x" % b for b in body[i:i + 16]) + ",")
    lines.append("};")
    lines.append("const size_t %s_len = %d;" % (name, len(data)))
    with open(dst, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
