// Package archive handles the zip and tar files that cross trust boundaries: input artifacts
// unpacked for a build, build output collected into an artifact zip, and deployment bundles
// unpacked on hosts. Everything that comes out of an archive is treated as hostile input
// (operations rule 8).
//
// Extraction (ExtractZip, ExtractTar, ZipToTar) refuses, naming the entry and the rule it broke:
//
//   - names with a ".." component, absolute names, Windows drive or UNC names, NUL bytes
//     (backslashes are read as separators first, so `..\x` is caught too);
//   - symbolic links that are absolute or whose target, resolved through every other link in the
//     archive (and any link already present in dest), leaves the destination;
//   - any entry whose parent path is a symbolic link: nothing is ever written through a link, so
//     "symlink, then a file beneath it" fails even when the link points inside dest;
//   - hard links (tar) whose target is not a regular file extracted earlier from the same archive;
//   - device files, FIFOs, sockets, sparse and unknown entry types;
//   - a second entry for a path that already holds a file or link (directories may repeat);
//   - more entries than Limits.MaxFiles, a file larger than Limits.MaxFileBytes, more than
//     Limits.MaxTotalBytes in total, a file larger than its declared size, and a compression
//     ratio above Limits.MaxRatio. Sizes are counted as bytes are actually written, declared
//     sizes are only used to refuse early.
//
// Zip archives are checked as a whole from the central directory before anything is written.
// Tar archives are streamed: each entry is checked as it arrives and symbolic links are checked
// again once the archive is complete. On any error (a refused entry, a broken stream, a
// cancelled context) every link written so far is resolved again against what was actually
// extracted and those that would leave dest are removed; dest then holds a partial extraction
// that the caller must discard.
//
// File modes keep their permission bits (so executables stay executable) and are set with fchmod
// after writing, so the process umask does not change them; setuid, setgid and sticky bits are
// dropped, files stay readable and directories writable by their owner. Zip entries made on
// systems without Unix modes get 0644 (0755 for directories). Modification times are not
// restored. Ownership is never changed.
//
// ZipFromTar builds an artifact zip from a build's source directory with CodeBuild's artifact
// selection rules; see Selection and MatchGlob for the glob dialect and the decisions taken where
// CodeBuild's documentation is silent.
package archive
