"""A VBA project (vbaProject.bin) built from source text, deterministically ([MS-OVBA], [MS-CFB]).

Excel is not available to build the macro project, and the one Python package that writes these
files (ms-ovba 0.0.1) corrupts modules over about 4 KB, records the wrong code page, has no class
modules and writes random fields. So this module writes the three parts itself:

* MS-OVBA compression (2.4.1): chunks of at most 4096 bytes, greedy longest-match copy tokens;
* the project streams: `dir` (code page 932 so Japanese source survives, LCID 0x409 as the
  specification requires), `PROJECT` (a GUID and the CMG/DPB/GC fields encrypted per 2.4.3: not
  protected, no password, visible), `PROJECTwm`, `_VBA_PROJECT` with version 0xFFFF and no
  performance cache, so Office compiles from source;
* a compound file (CFB version 3, 512-byte sectors) with the mini stream for small streams. A stream
  of exactly 4096 bytes goes to the regular FAT (the cutoff is "less than 4096"), the case another
  writer gets wrong.

Nothing random and no timestamps: the GUID and the encryption seeds come from the sources' digest,
so the same sources give the same bytes. tests/test_vba_conformance.py compares the result field by
field with a project Excel wrote.
"""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from dataclasses import dataclass

CODEPAGE = 932
_ENCODING = "cp932"


# --- MS-OVBA compression ----------------------------------------------------------------------

def _copy_token_bits(position: int) -> int:
    """Bits for the offset of a copy token at `position` (bytes decompressed so far in the chunk)."""
    bits = 4
    while (1 << bits) < position:
        bits += 1
    return min(bits, 12)


def _compress_chunk(data: bytes) -> bytes:
    out = bytearray()
    position = 0
    recent: dict[bytes, list[int]] = {}
    while position < len(data):
        flag_index = len(out)
        out.append(0)
        flags = 0
        for bit in range(8):
            if position >= len(data):
                break
            best_length, best_offset = 0, 0
            if position > 0:
                bits = _copy_token_bits(position)
                maximum = min((0xFFFF >> bits) + 3, len(data) - position)
                for start in reversed(recent.get(data[position:position + 3], [])[-64:]):
                    length = 0
                    while length < maximum and data[start + length] == data[position + length]:
                        length += 1
                    if length > best_length:
                        best_length, best_offset = length, position - start
                        if length == maximum:
                            break
            if best_length >= 3:
                bits = _copy_token_bits(position)
                token = ((best_offset - 1) << (16 - bits)) | (best_length - 3)
                out += struct.pack("<H", token)
                flags |= 1 << bit
                advance = best_length
            else:
                out.append(data[position])
                advance = 1
            for p in range(position, position + advance):
                if p + 3 <= len(data):
                    recent.setdefault(data[p:p + 3], []).append(p)
            position += advance
        out[flag_index] = flags
    return bytes(out)


def compress(data: bytes) -> bytes:
    """A CompressedContainer; a chunk that would not shrink is stored raw (only full 4096-byte ones may)."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 4096):
        chunk = data[start:start + 4096]
        packed = _compress_chunk(chunk)
        if len(chunk) == 4096 and len(packed) >= 4096:
            out += struct.pack("<H", 0x3FFF) + chunk  # size 4098-3, signature 0b011, flag 0 (raw)
        else:
            if len(packed) + 2 > 4098:
                raise ValueError("chunk does not fit")  # cannot happen for chunks under 4096 bytes + tokens
            out += struct.pack("<H", (len(packed) - 1) | 0xB000) + packed  # size-3, signature, flag 1
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """The inverse of `compress` (for tests and for reading a project back)."""
    if not data or data[0] != 1:
        raise ValueError("not a compressed container")
    out = bytearray()
    index = 1
    while index < len(data):
        header = struct.unpack_from("<H", data, index)[0]
        size = (header & 0x0FFF) + 3
        chunk_end = index + size
        index += 2
        start = len(out)
        if not header & 0x8000:
            out += data[index:index + 4096]
            index += 4096
            continue
        while index < chunk_end:
            flags = data[index]
            index += 1
            for bit in range(8):
                if index >= chunk_end:
                    break
                if flags & (1 << bit):
                    token = struct.unpack_from("<H", data, index)[0]
                    index += 2
                    bits = _copy_token_bits(len(out) - start)
                    length = (token & (0xFFFF >> bits)) + 3
                    offset = (token >> (16 - bits)) + 1
                    for _ in range(length):
                        out.append(out[-offset])
                else:
                    out.append(data[index])
                    index += 1
    return bytes(out)


# --- project streams ------------------------------------------------------------------------------

# VB_Base of the document modules: the Excel type library's Workbook and Worksheet classes, and of a
# class module: VBA's own class template ([MS-OVBA] 2.3.4.3; the values Excel writes).
WORKBOOK_BASE = "0{00020819-0000-0000-C000-000000000046}"
WORKSHEET_BASE = "0{00020820-0000-0000-C000-000000000046}"
CLASS_BASE = "0{FCFB3D2A-A0FA-1068-A738-08002B3371B5}"
LCID = 0x0409  # [MS-OVBA] 2.3.4.2.1.4/.5: PROJECTLCID and PROJECTLCIDINVOKE "MUST be 0x00000409"
_ATTRIBUTE = re.compile(r"^Attribute (VB_\w+) = (.*)$")


@dataclass(frozen=True)
class Module:
    """One VBA module: `document` modules are ThisWorkbook and the sheets; `klass` a class module.

    `source` is the text of a module as exported (.bas/.cls): an exported class's `VERSION 1.0 CLASS`
    block is dropped, and its own module attributes (VB_Exposed, VB_Description …) override the
    defaults Excel writes for a class. `base` is a document module's VB_Base (default: a worksheet).
    """

    name: str
    source: str
    document: bool = False
    klass: bool = False
    base: str = WORKSHEET_BASE

    def _split(self) -> tuple[dict[str, str], list[str]]:
        """(module attributes given by the source, the remaining lines)."""
        lines = self.source.replace("\r\n", "\n").split("\n")
        if lines and lines[0].startswith("VERSION ") and "BEGIN" in lines[:3]:
            lines = lines[lines.index("END") + 1:]  # the export file's header, not part of the module
        given: dict[str, str] = {}
        body = []
        for line in lines:
            match = _ATTRIBUTE.match(line)
            if match:
                given[match[1]] = match[2]
            else:
                body.append(line)
        return given, body

    def attributes(self) -> dict[str, str]:
        """The module attributes, in the order Excel writes them."""
        given, _ = self._split()
        result = {"VB_Name": f'"{self.name}"'}
        if self.document:
            result |= {"VB_Base": f'"{self.base}"', "VB_GlobalNameSpace": "False", "VB_Creatable": "False",
                       "VB_PredeclaredId": "True", "VB_Exposed": "True", "VB_TemplateDerived": "False",
                       "VB_Customizable": "True"}
        elif self.klass:
            result |= {"VB_Base": f'"{CLASS_BASE}"', "VB_GlobalNameSpace": "False", "VB_Creatable": "False",
                       "VB_PredeclaredId": "False", "VB_Exposed": "False", "VB_TemplateDerived": "False",
                       "VB_Customizable": "False"}
            result |= {key: value for key, value in given.items() if key != "VB_Name"}
        return result

    def docstring(self) -> str:
        """The module's description (MODULEDOCSTRING): VB_Description with its \\r\\n escapes made real, as Excel does."""
        value = self.attributes().get("VB_Description", '""')
        return value.strip('"').replace("\\r", "\r").replace("\\n", "\n")

    def code(self) -> bytes:
        _, body = self._split()
        text = "\r\n".join(body).rstrip("\r\n")
        header = "".join(f"Attribute {key} = {value}\r\n" for key, value in self.attributes().items())
        return (header + (text + "\r\n" if text else "")).encode(_ENCODING)


def _record(record_id: int, payload: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(payload)) + payload


def _text_records(record_id: int, unicode_id: int, text: str) -> bytes:
    return _record(record_id, text.encode(_ENCODING)) + _record(unicode_id, text.encode("utf-16-le"))


def dir_stream(project: str, modules: list[Module]) -> bytes:
    """The uncompressed `dir` stream ([MS-OVBA] 2.3.4.2): project information, no references, the modules."""
    info = (
        _record(0x0001, struct.pack("<I", 1))  # SYSKIND: 32-bit Windows (Office reads 64-bit too)
        + _record(0x004A, struct.pack("<I", 0x00000002))  # COMPATVERSION
        + _record(0x0002, struct.pack("<I", LCID))
        + _record(0x0014, struct.pack("<I", LCID))  # LCIDINVOKE
        + _record(0x0003, struct.pack("<H", CODEPAGE))  # the code page is what carries Japanese
        + _record(0x0004, project.encode(_ENCODING))  # NAME
        + _text_records(0x0005, 0x0040, "")  # DOCSTRING
        + _text_records(0x0006, 0x003D, "")  # HELPFILEPATH
        + _record(0x0007, struct.pack("<I", 0))  # HELPCONTEXT
        + _record(0x0008, struct.pack("<I", 0))  # LIBFLAGS
        + struct.pack("<HIIH", 0x0009, 4, 1, 0)  # VERSION (major 1, minor 0): a fixed-size record
        + _text_records(0x000C, 0x003C, "")  # CONSTANTS
    )
    body = bytearray(info)
    body += _record(0x000F, struct.pack("<H", len(modules)))  # PROJECTMODULES count
    body += _record(0x0013, struct.pack("<H", 0xFFFF))  # PROJECTCOOKIE: "MUST be 0xFFFF on write"
    for module in modules:
        body += _text_records(0x0019, 0x0047, module.name)  # MODULENAME, MODULENAMEUNICODE
        body += _text_records(0x001A, 0x0032, module.name)  # MODULESTREAMNAME
        body += _text_records(0x001C, 0x0048, module.docstring())  # MODULEDOCSTRING
        body += _record(0x0031, struct.pack("<I", 0))  # MODULEOFFSET: source starts the stream
        body += _record(0x001E, struct.pack("<I", 0))  # MODULEHELPCONTEXT
        body += _record(0x002C, struct.pack("<H", 0xFFFF))  # MODULECOOKIE
        body += _record(0x0022 if module.document or module.klass else 0x0021, b"")  # TYPE
        body += _record(0x002B, b"")  # terminator
    body += struct.pack("<HI", 0x0010, 0)  # end of dir stream
    return bytes(body)


# --- [MS-OVBA] 2.4.3 data encryption (the CMG, DPB and GC values of the PROJECT stream) -----------

def encrypt(project_id: str, data: bytes, seed: int, ignored: bytes) -> bytes:
    """Data Encryption (2.4.3.2) of `data` for the project `project_id` ("{GUID}").

    `seed` and the `ignored` filler are arbitrary by the specification; the caller passes values
    derived from the sources so that builds stay byte-identical. (Seed & 6) / 2 filler bytes are used.
    """
    version, key = 2, sum(project_id.encode("ascii")) & 0xFF
    out = bytearray([seed, seed ^ version, seed ^ key])
    plain1, enc1, enc2 = key, seed ^ key, seed ^ version
    for byte in ignored[:(seed & 6) // 2] + struct.pack("<I", len(data)) + data:
        encrypted = byte ^ ((enc2 + plain1) & 0xFF)
        out.append(encrypted)
        enc2, enc1, plain1 = enc1, encrypted, byte
    return bytes(out)


def project_id(modules: list[Module], project: str) -> str:
    """The project's GUID (2.3.1.2), named by the sources' digest: a new project per change, the same per build."""
    return "{" + str(uuid.uuid5(_NAMESPACE, _digest(modules, project).hex())).upper() + "}"


_NAMESPACE = uuid.UUID("6f0e4a51-8c1d-4a8e-9d55-7b0c2f1e3a90")  # tokenbook's own namespace for uuid5


def _digest(modules: list[Module], project: str) -> bytes:
    h = hashlib.sha256(project.encode("utf-8"))
    for module in modules:
        h.update(b"\0" + module.name.encode("utf-8") + b"\0" + module.code())
    return h.digest()


def _protection(modules: list[Module], project: str, guid: str) -> dict[str, str]:
    """CMG, DPB, GC: not protected (ProjectProtectionState 0), no password (one 0x00), visible (0xFF)."""
    values = {"CMG": struct.pack("<I", 0), "DPB": b"\x00", "GC": b"\xff"}
    digest = _digest(modules, project)
    result = {}
    for key, data in values.items():
        stir = hashlib.sha256(digest + key.encode()).digest()
        result[key] = encrypt(guid, data, seed=stir[0], ignored=stir[1:4]).hex().upper()
    return result


def project_stream(modules: list[Module], project: str) -> bytes:
    """The PROJECT stream (2.3.1): properties, host extenders, workspace, in the order Excel writes them."""
    guid = project_id(modules, project)
    protection = _protection(modules, project, guid)
    lines = [f'ID="{guid}"']
    for module in modules:
        if module.document:
            lines.append(f"Document={module.name}/&H00000000")
        elif module.klass:
            lines.append(f"Class={module.name}")
        else:
            lines.append(f"Module={module.name}")
    lines += [f'Name="{project}"', 'HelpContextID="0"', 'VersionCompatible32="393222000"']
    lines += [f'{key}="{value}"' for key, value in protection.items()]
    lines += ["", "[Host Extender Info]", "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000",
              "", "[Workspace]"]
    lines += [f"{module.name}=0, 0, 0, 0, C" for module in modules]
    return ("\r\n".join(lines) + "\r\n").encode(_ENCODING)


def projectwm_stream(modules: list[Module]) -> bytes:
    out = bytearray()
    for module in modules:
        out += module.name.encode(_ENCODING) + b"\0" + module.name.encode("utf-16-le") + b"\0\0"
    return bytes(out + b"\0\0")


def vba_project_stream() -> bytes:
    """_VBA_PROJECT (2.3.4.1): Reserved1 0x61CC, version 0xFFFF (Office then ignores any performance
    cache and compiles from source, 3.2.1/1.6), Reserved2 0x00, Reserved3 0x0001 as Excel and vbamc
    write it; no PerformanceCache follows."""
    return struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0001)


def project_streams(modules: list[Module], project: str = "VBAProject") -> dict[str, bytes]:
    """Stream path -> bytes, for the compound file."""
    streams = {
        "PROJECT": project_stream(modules, project),
        "PROJECTwm": projectwm_stream(modules),
        "VBA/_VBA_PROJECT": vba_project_stream(),
        "VBA/dir": compress(dir_stream(project, modules)),
    }
    for module in modules:
        streams[f"VBA/{module.name}"] = compress(module.code())
    return streams


# --- compound file ---------------------------------------------------------------------------

SECTOR = 512
MINI = 64
MINI_CUTOFF = 4096
FREE, END, FAT_SECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[int] | None = None
    start: int = END
    size: int = 0
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM


def _compare_key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4: shorter names first, then by upper-cased name."""
    return len(name), name.upper()


def compound_file(streams: dict[str, bytes]) -> bytes:
    """A CFB v3 file holding `streams` (paths with `/` make storages), deterministically."""
    entries = [_Entry("Root Entry", 5, children=[])]
    storages = {"": 0}
    for path in sorted(streams, key=lambda p: [_compare_key(part) for part in p.split("/")]):
        parent = ""
        for part in path.split("/")[:-1]:
            key = f"{parent}/{part}" if parent else part
            if key not in storages:
                entries.append(_Entry(part, 1, children=[], start=0))  # [MS-CFB] 2.6.3: a storage's start and size are 0
                storages[key] = len(entries) - 1
                entries[storages[parent]].children.append(storages[key])
            parent = key
        entries.append(_Entry(path.split("/")[-1], 2, data=streams[path]))
        entries[storages[parent]].children.append(len(entries) - 1)
    for e in entries:
        if e.children:
            _link_siblings(entries, e)

    # Small streams live in the mini stream (64-byte sectors) kept in the root entry's chain.
    mini_stream = bytearray()
    mini_fat: list[int] = []
    for e in entries:
        if e.kind == 2 and len(e.data) < MINI_CUTOFF:
            e.size = len(e.data)
            if not e.data:
                e.start = END
                continue
            e.start = len(mini_fat)
            count = -(-len(e.data) // MINI)
            mini_fat += [e.start + i + 1 for i in range(count - 1)] + [END]
            mini_stream += e.data + b"\0" * (count * MINI - len(e.data))

    sectors: list[bytes] = []
    fat: list[int] = []

    def place(data: bytes) -> int:
        if not data:
            return END
        first = len(sectors)
        count = -(-len(data) // SECTOR)
        for i in range(count):
            sectors.append(data[i * SECTOR:(i + 1) * SECTOR].ljust(SECTOR, b"\0"))
            fat.append(first + i + 1 if i < count - 1 else END)
        return first

    for e in entries:
        if e.kind == 2 and len(e.data) >= MINI_CUTOFF:
            e.size = len(e.data)
            e.start = place(e.data)
    root = entries[0]
    root.start, root.size = place(bytes(mini_stream)), len(mini_stream)
    mini_fat_bytes = struct.pack(f"<{len(mini_fat)}I", *mini_fat) if mini_fat else b""
    mini_fat_start = place(mini_fat_bytes.ljust(-(-len(mini_fat_bytes) // SECTOR) * SECTOR, b"\xff"))
    directory = b"".join(_directory_entry(e) for e in entries)
    directory += _directory_entry(None) * ((-len(entries)) % 4)
    directory_start = place(directory)

    # The FAT describes itself too: add FAT sectors until they cover every sector.
    fat_sectors = 0
    while fat_sectors * (SECTOR // 4) < len(sectors) + fat_sectors:
        fat_sectors += 1
    if fat_sectors > 109:
        raise ValueError("project too large for a header-only FAT index")
    fat_start = len(sectors)
    fat += [FAT_SECT] * fat_sectors
    fat += [FREE] * (fat_sectors * (SECTOR // 4) - len(fat))
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat)
    for i in range(fat_sectors):
        sectors.append(fat_bytes[i * SECTOR:(i + 1) * SECTOR])
    difat = [fat_start + i for i in range(fat_sectors)] + [FREE] * (109 - fat_sectors)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x003E, 0x0003, 0xFFFE, 9, 6, b"\0" * 6,
        0, fat_sectors, directory_start, 0, MINI_CUTOFF, mini_fat_start if mini_fat else END,
        -(-len(mini_fat_bytes) // SECTOR), END, 0,
    ) + struct.pack("<109I", *difat)
    return header + b"".join(sectors)


def _link_siblings(entries: list[_Entry], parent: _Entry) -> None:
    """A balanced binary tree of the children (all black: valid for readers, [MS-CFB] 2.6.4)."""
    ordered = sorted(parent.children, key=lambda i: _compare_key(entries[i].name))

    def build(items: list[int]) -> int:
        if not items:
            return NOSTREAM
        middle = len(items) // 2
        node = items[middle]
        entries[node].left = build(items[:middle])
        entries[node].right = build(items[middle + 1:])
        return node

    parent.child = build(ordered)


def _directory_entry(e: _Entry | None) -> bytes:
    if e is None:  # an unused slot
        return struct.pack("<64sHBBIII16sIQQIII", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"\0" * 16,
                           0, 0, 0, 0, 0, 0)
    name = e.name.encode("utf-16-le") + b"\0\0"
    return struct.pack("<64sHBBIII16sIQQIII", name, len(name), e.kind, 1, e.left, e.right, e.child, b"\0" * 16, 0,
                       0, 0, e.start, e.size, 0)
