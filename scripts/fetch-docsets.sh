#!/usr/bin/env bash
# Fetches the real documentation sets that `lore bench --docs` is measured on, by package
# name and pinned version, into eval/docsets/<set>/ (git-ignored). Idempotent: a set whose
# stamp (eval/docsets/.stamps/<set>) matches its pinned versions is left alone; downloads
# are cached in eval/docsets/.cache/.
#
#   bash scripts/fetch-docsets.sh [SET...]     # sets: html rst asciidoc pdf mixed html-shipped
#                                              # docutils pod info texinfo docbook javadoc mdbook gtkdoc doxygen mkdocs
#                                              # (default: all)
#
# Sources are Debian packages (`apt-get download NAME=VERSION`, unpacked with dpkg-deb), Debian
# source packages (`apt-get source --download-only NAME=VERSION`, through deb-src lists kept in
# a temporary folder, so the system's apt sources are not touched) and PyPI sdists (`pip download --no-deps --no-binary :all: NAME==VERSION`). Debian versions
# are those of bookworm; a point release can replace one, then bump the pin here.
# Questions about each set live in eval/questions/<set>.tsv (paths relative to the set).
set -euo pipefail

# ---- pinned versions --------------------------------------------------------------------
SPHINX_DOC=5.3.0-4                    # Debian sphinx-doc: Sphinx's own HTML manual
PYTEST=7.4.4                          # PyPI sdist: doc/en/**/*.rst
FREERADIUS=3.2.1+dfsg-4+deb12u1       # Debian freeradius: Antora .adoc docs
KAKOUNE=2022.10.31-1                  # Debian kakoune: editor docs in .asciidoc
GNUPLOT_DOC=5.4.4+dfsg1-2             # Debian gnuplot-doc: gnuplot.pdf (311 pages)
PREVISAT=3.5.1.7+dfsg1-5              # Debian previsat: PreviSat_en.pdf (57 pages) / .docx
NBSPHINX_DOC=0.8.11+ds-1              # Debian python-nbsphinx-doc: notebooks, rst, html
FAI_DOC=6.0.3+deb12u1                 # Debian fai-doc: fai-guide.pdf (38 pages)
ATTRS=23.2.0                          # PyPI sdist: docs/*.md
DOCUTILS_DOC=0.19+dfsg-6              # Debian docutils-doc: every page as .txt (reST) + .html
PERL_DOC=5.36.0-7+deb12u4             # Debian perl-doc: Perl's manual as 206 .pod files
# GNU Info manuals, as the packages install them in usr/share/info (find, m4 and screen
# split into parts by makeinfo):
INFO_PKGS="coreutils=9.1-1 diffutils=1:3.8-4 findutils=4.9.0-4 grep=3.8-5 gzip=1.12-1 m4=1.4.19-3 screen=4.9.0-4 sed=4.9-1+deb12u1 wget=1.21.3-1+deb12u1"
# The texinfo set is the same manuals' Texinfo sources: the source packages of these names
# and versions, from the deb-src lists of this suite.
DEBSRC_SUITE=bookworm
# DocBook sources, from the source packages (binary packages ship only the built man pages):
SYSTEMD_SRC=252.39-1~deb12u2          # man/*.xml: 379 refentries and the fragments they include
SHADOW_SRC=1:4.13+dfsg1-1+deb12u2     # man/*.xml, man/login.defs.d/*.xml (one varlistentry each)
DBUS_SRC=1.14.10-1~deb12u1            # doc/*.xml: specification, tutorial, FAQ (articles)
FONTCONFIG_SRC=2.14.1-4               # doc/*.sgml, fc-*/*.sgml (DocBook 3.1/4.1 SGML-era)
NM_SRC=1.42.4-1+deb12u1               # man/*.xml (refentries), introspection/*.xml (not DocBook)
# A generator's HTML other than Sphinx: Apache Commons Lang's API reference as Javadoc 17
# writes it (Debian installs it under usr/share/doc/libcommons-lang3-java/api).
COMMONS_LANG3_DOC=3.12.0-2+deb12u1     # Debian libcommons-lang3-java-doc
# mdBook's HTML: the Rust book exactly as Debian installs it (usr/share/doc/rust-doc/html/book).
RUST_DOC=1.63.0+dfsg1-2               # Debian rust-doc
# gtk-doc's HTML: GLib's API reference as installed (usr/share/gtk-doc/html/glib).
GLIB_DOC=2.74.6-2+deb12u9             # Debian libglib2.0-doc
# Doxygen's HTML: SDL 2's API reference as installed (usr/share/doc/libsdl2-doc/html).
SDL2_DOC=2.26.5+dfsg-1                # Debian libsdl2-doc
# MkDocs's HTML: MkDocs's own manual as installed (usr/share/doc/mkdocs/html).
MKDOCS_DOC=1.4.2+dfsg-2               # Debian mkdocs-doc
ZSH_DOC=5.9-4                         # Debian zsh-doc: the Zsh manual and FAQ as texi2any 6.8 HTML, a page per chapter
PAM_DOC=1.5.2-6+deb12u3               # Debian libpam-doc: Linux-PAM's three guides as DocBook XSL HTML

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/eval/docsets"
CACHE="$OUT/.cache"
STAMPS="$OUT/.stamps"
mkdir -p "$CACHE" "$STAMPS"

say() { printf '%s\n' "$*" >&2; }
die() { say "fetch-docsets: $*"; exit 1; }

APT_UPDATED=0
# deb NAME VERSION -> prints the folder the package is unpacked into
deb() {
    local name=$1 version=$2
    local dir="$CACHE/deb/$name=$version"
    if [[ ! -f "$dir/.ok" ]]; then
        command -v apt-get >/dev/null || die "apt-get is needed for $name"
        # `apt-cache show NAME=VERSION` exits 0 with no output for a version the lists lack.
        if [[ -z "$(apt-cache show "$name=$version" 2>/dev/null)" && $APT_UPDATED == 0 ]]; then
            say "apt-get update (for $name=$version)"
            apt-get update -qq >&2 || die "apt-get update failed (run as root?)"
            APT_UPDATED=1
        fi
        rm -rf "$dir" && mkdir -p "$dir/x"
        (cd "$dir" && apt-get download -q "$name=$version" >&2 2>/dev/null) \
            || die "apt-get download $name=$version failed (is the version still in the archive? bump the pin)"
        dpkg-deb -x "$dir"/*.deb "$dir/x"
        touch "$dir/.ok"
    fi
    printf '%s\n' "$dir/x"
}

# The apt-get options `debsrc` runs with: deb-src lists for $DEBSRC_SUITE in a temporary
# folder (made and updated once per run, removed on exit). Called in the main shell, before
# the `$(debsrc …)` subshells that use them.
APT_SRC=()
APT_SRC_DIR=""
debsrc_lists() {
    [[ -n "$APT_SRC_DIR" ]] && return 0
    APT_SRC_DIR=$(mktemp -d)
    trap 'rm -rf "$APT_SRC_DIR"' EXIT
    local t=$APT_SRC_DIR
    chmod 755 "$t" # apt's download user reads it
    mkdir -p "$t/parts" "$t/lists/partial" "$t/cache/archives/partial"
    printf '%s\n' "Types: deb-src" "URIs: http://deb.debian.org/debian" "Suites: $DEBSRC_SUITE" \
        "Components: main" "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg" \
        >"$t/parts/debsrc.sources"
    APT_SRC=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$t/parts"
        -o "Dir::State::Lists=$t/lists" -o "Dir::Cache=$t/cache")
    say "apt-get update (deb-src $DEBSRC_SUITE, private lists in $t)"
    apt-get "${APT_SRC[@]}" update -qq >&2 || die "apt-get update of the deb-src lists failed"
}

# debsrc NAME VERSION -> prints the folder the source package's upstream tarball is unpacked
# into (Debian's patches are not applied: the documentation is upstream's)
debsrc() {
    local name=$1 version=$2
    local dir="$CACHE/debsrc/$name=$version"
    if [[ ! -f "$dir/.ok" ]]; then
        command -v apt-get >/dev/null || die "apt-get is needed for the source of $name"
        [[ -n "$APT_SRC_DIR" ]] || die "debsrc_lists must run before debsrc"
        rm -rf "$dir" && mkdir -p "$dir/x"
        (cd "$dir" && apt-get "${APT_SRC[@]}" source --download-only -q "$name=$version" >&2) \
            || die "apt-get source $name=$version failed (is the version still in the archive? bump the pin)"
        local tarball
        tarball=$(find "$dir" -maxdepth 1 -name '*.orig.tar.*' ! -name '*.asc' | head -n1)
        [[ -n "$tarball" ]] || die "no upstream tarball in the source of $name=$version"
        tar -xf "$tarball" -C "$dir/x" || die "cannot unpack $tarball"
        touch "$dir/.ok"
    fi
    printf '%s\n' "$dir/x/$(ls "$dir/x" | head -n1)"
}

# sdist NAME VERSION -> prints the folder the sdist is unpacked into
sdist() {
    local name=$1 version=$2
    local dir="$CACHE/pypi/$name==$version"
    if [[ ! -f "$dir/.ok" ]]; then
        local pip=(pip)
        command -v pip >/dev/null || pip=(python3 -m pip)
        rm -rf "$dir" && mkdir -p "$dir/x"
        "${pip[@]}" download -q --no-deps --no-binary :all: -d "$dir" "$name==$version" >&2 \
            || die "pip download $name==$version failed"
        tar -xzf "$dir"/*.tar.gz -C "$dir/x"
        touch "$dir/.ok"
    fi
    printf '%s\n' "$dir/x/$(ls "$dir/x" | head -n1)"
}

# Debian gzips larger files under /usr/share/doc; the readers want the real files.
gunzip_docs() {
    find "$1" -type f \( -name '*.adoc.gz' -o -name '*.asciidoc.gz' -o -name '*.ipynb.gz' \
        -o -name '*.rst.gz' -o -name '*.md.gz' -o -name '*.html.gz' -o -name '*.py.gz' \) \
        -exec gunzip -f {} +
}

# fresh SET STAMP -> 0 when the set must be (re)built (and empties it)
fresh() {
    local set=$1 stamp=$2
    if [[ -d "$OUT/$set" && -f "$STAMPS/$set" && "$(cat "$STAMPS/$set")" == "$stamp" ]]; then
        say "$set: up to date ($stamp)"
        return 1
    fi
    rm -rf "$OUT/$set" && mkdir -p "$OUT/$set"
    return 0
}

done_set() { printf '%s\n' "$2" >"$STAMPS/$1"; }

set_html() {
    local stamp="sphinx-doc=$SPHINX_DOC"
    fresh html "$stamp" || return 0
    local x
    x=$(deb sphinx-doc "$SPHINX_DOC")
    cp -a "$x/usr/share/doc/sphinx-doc/html/." "$OUT/html/"
    # Keep pages with their sidebars, images, CSS and JS (the junk a doc site has); drop
    # the highlighted module sources, the copies of the reST sources (the same text
    # again), generated indexes and the changelog (too big for a quick ingest).
    rm -rf "$OUT/html/_modules" "$OUT/html/_sources" "$OUT/html/_downloads"
    rm -f "$OUT/html/genindex.html" "$OUT/html/search.html" "$OUT/html/py-modindex.html" \
        "$OUT/html/changes.html"
    find "$OUT/html" -type l -delete
    done_set html "$stamp"
}

# The same manual exactly as the package installs it (/usr/share/doc/sphinx-doc/html): what a
# user points lore at. Beside the pages: `_sources/` (a copy of every page's reST source),
# `_modules/` (highlighted code), generated index and search pages, the changelog, and links
# into /usr/share/javascript. Questions: eval/questions/html.tsv.
set_html_shipped() { shipped html-shipped sphinx-doc "$SPHINX_DOC" usr/share/doc/sphinx-doc/html; }

# shipped SET PACKAGE VERSION FOLDER: a Debian package's documentation folder exactly as it
# is installed, nothing removed.
shipped() {
    local set=$1 name=$2 version=$3 folder=$4
    local stamp="$name=$version"
    fresh "$set" "$stamp" || return 0
    local x
    x=$(deb "$name" "$version")
    cp -a "$x/$folder/." "$OUT/$set/"
    done_set "$set" "$stamp"
}

set_rst() {
    local stamp="pytest=$PYTEST"
    fresh rst "$stamp" || return 0
    local x
    x=$(sdist pytest "$PYTEST")
    (cd "$x/doc/en" && find . -name '*.rst' ! -path './announce/*' \
        ! -name 'plugin_list.rst' -exec cp --parents {} "$OUT/rst/" \;)
    done_set rst "$stamp"
}

set_asciidoc() {
    local stamp="freeradius=$FREERADIUS kakoune=$KAKOUNE"
    fresh asciidoc "$stamp" || return 0
    local x
    x=$(deb freeradius "$FREERADIUS")
    mkdir -p "$OUT/asciidoc/freeradius"
    cp -a "$x/usr/share/doc/freeradius/antora/." "$OUT/asciidoc/freeradius/"
    gunzip_docs "$OUT/asciidoc/freeradius"
    x=$(deb kakoune "$KAKOUNE")
    mkdir -p "$OUT/asciidoc/kakoune"
    cp -a "$x/usr/share/kak/doc/." "$OUT/asciidoc/kakoune/"
    gunzip_docs "$OUT/asciidoc/kakoune"
    find "$OUT/asciidoc" -type l -delete
    done_set asciidoc "$stamp"
}

set_pdf() {
    local stamp="gnuplot-doc=$GNUPLOT_DOC previsat=$PREVISAT"
    fresh pdf "$stamp" || return 0
    local x
    x=$(deb gnuplot-doc "$GNUPLOT_DOC")
    cp "$x/usr/share/doc/gnuplot/gnuplot.pdf" "$OUT/pdf/gnuplot.pdf"
    x=$(deb previsat "$PREVISAT")
    cp "$x/usr/share/Astropedia/PreviSat/doc/PreviSat_en.pdf" "$OUT/pdf/PreviSat_en.pdf"
    done_set pdf "$stamp"
}

set_mixed() {
    local stamp="v2 python-nbsphinx-doc=$NBSPHINX_DOC previsat=$PREVISAT fai-doc=$FAI_DOC attrs=$ATTRS kakoune=$KAKOUNE"
    fresh mixed "$stamp" || return 0
    local m="$OUT/mixed" x h
    x=$(deb python-nbsphinx-doc "$NBSPHINX_DOC")
    h="$x/usr/share/doc/python-nbsphinx/html"
    mkdir -p "$m/nbsphinx/_static" "$m/nbsphinx/_images"
    # Notebooks, reST sources and rendered pages of different topics (no page twice).
    for nb in usage executing-notebooks custom-css hidden-cells prolog-and-epilog \
        markdown-cells timeout; do
        if [[ -f "$h/_sources/$nb.ipynb.gz" ]]; then
            gunzip -c "$h/_sources/$nb.ipynb.gz" >"$m/nbsphinx/$nb.ipynb"
        else
            cp "$h/_sources/$nb.ipynb" "$m/nbsphinx/$nb.ipynb"
        fi
    done
    cp "$h/_sources/a-normal-rst-file.rst" "$m/nbsphinx/"
    cp "$x/usr/share/doc/python-nbsphinx-doc/README.rst" \
        "$x/usr/share/doc/python-nbsphinx-doc/CONTRIBUTING.rst" "$m/nbsphinx/"
    gunzip -c "$x/usr/share/doc/python-nbsphinx-doc/NEWS.rst.gz" >"$m/nbsphinx/NEWS.rst"
    for p in installation configuring-kernels raw-cells; do
        cp "$h/$p.html" "$m/nbsphinx/$p.html"
    done
    # Junk a docs folder carries: styles, scripts, images, a licence, a config script.
    cp "$h"/_static/*.css "$h"/_static/*.js "$m/nbsphinx/_static/" 2>/dev/null || true
    find "$h/_images" -maxdepth 1 -type f | head -n 6 | xargs -r cp -t "$m/nbsphinx/_images/"
    cp "$x/usr/share/doc/python-nbsphinx-doc/copyright" "$m/nbsphinx/LICENSE"
    gunzip -c "$h/conf.py.gz" >"$m/nbsphinx/conf.py"

    x=$(deb previsat "$PREVISAT")
    mkdir -p "$m/previsat"
    cp "$x/usr/share/Astropedia/PreviSat/doc/PreviSat_en.docx" "$m/previsat/"
    cp "$x/usr/share/Astropedia/PreviSat/doc/README.txt" "$m/previsat/README.txt"

    x=$(deb fai-doc "$FAI_DOC")
    mkdir -p "$m/fai"
    cp "$x/usr/share/doc/fai-doc/fai-guide.pdf" "$m/fai/"

    x=$(sdist attrs "$ATTRS")
    mkdir -p "$m/attrs"
    for f in overview why init hashing names glossary; do
        cp "$x/docs/$f.md" "$m/attrs/$f.md"
    done
    cp "$x/docs/_static/"*.svg "$m/attrs/" 2>/dev/null || true
    cp "$x/LICENSE" "$m/attrs/LICENSE"

    x=$(deb kakoune "$KAKOUNE")
    mkdir -p "$m/kakoune"
    for f in faq registers regex; do
        cp "$x/usr/share/kak/doc/$f.asciidoc" "$m/kakoune/"
    done
    done_set mixed "$stamp"
}

# Docutils' own documentation exactly as Debian installs it (/usr/share/doc/docutils-doc):
# 63 pages twice, as the reST source (`FAQ.txt`) and the HTML rst2html built from it
# (`FAQ.html`), a few HTML-only pages, images, CSS and DTDs.
set_docutils() { shipped docutils docutils-doc "$DOCUTILS_DOC" usr/share/doc/docutils-doc; }

# Perl's manual exactly as Debian installs it (/usr/share/perl/5.36.0/pod): 206 POD files,
# the FAQ, perlfunc, perlvar, the tutorials, every release's perldelta, and perltoc (the
# table of contents of all of them).
set_pod() { shipped pod perl-doc "$PERL_DOC" usr/share/perl/5.36.0/pod; }

set_info() {
    fresh info "$INFO_PKGS" || return 0
    local p x
    for p in $INFO_PKGS; do
        x=$(deb "${p%%=*}" "${p#*=}")
        cp -a "$x/usr/share/info/." "$OUT/info/"
    done
    done_set info "$INFO_PKGS"
}

# The Texinfo sources of the info set's manuals: each package's doc/*.texi (the manual and
# the files it includes, such as version.texi and fdl.texi), in a folder per package.
# Questions: eval/questions/texinfo.tsv.
set_texinfo() {
    local stamp="v1 $INFO_PKGS"
    fresh texinfo "$stamp" || return 0
    local p name x
    debsrc_lists
    for p in $INFO_PKGS; do
        name=${p%%=*}
        x=$(debsrc "$name" "${p#*=}")
        mkdir -p "$OUT/texinfo/$name"
        find "$x/doc" -maxdepth 1 -type f \( -name '*.texi' -o -name '*.texinfo' -o -name '*.txi' \) \
            -exec cp -t "$OUT/texinfo/$name/" {} +
    done
    done_set texinfo "$stamp"
}

# DocBook sources as the projects keep them: systemd's and NetworkManager's man pages
# (refentries, DocBook 4.5 XML, with the fragments systemd includes), shadow's man pages and
# the one-entry fragments of login.defs(5), D-Bus's specification, tutorial and FAQ, and
# fontconfig's SGML-era manuals (internal-subset entities that hold markup). Files that are
# not DocBook stay beside them, to be skipped: systemd's D-Bus interface example and
# NetworkManager's D-Bus introspection XML. Questions: eval/questions/docbook.tsv.
set_docbook() {
    local stamp="systemd=$SYSTEMD_SRC shadow=$SHADOW_SRC dbus=$DBUS_SRC fontconfig=$FONTCONFIG_SRC network-manager=$NM_SRC"
    fresh docbook "$stamp" || return 0
    local d="$OUT/docbook" x
    debsrc_lists
    x=$(debsrc systemd "$SYSTEMD_SRC")
    mkdir -p "$d/systemd/man"
    cp "$x"/man/*.xml "$d/systemd/man/"
    x=$(debsrc shadow "$SHADOW_SRC")
    mkdir -p "$d/shadow/man/login.defs.d"
    cp "$x"/man/*.xml "$d/shadow/man/"
    cp "$x"/man/login.defs.d/*.xml "$d/shadow/man/login.defs.d/"
    x=$(debsrc dbus "$DBUS_SRC")
    mkdir -p "$d/dbus/doc"
    cp "$x"/doc/*.xml "$d/dbus/doc/"
    x=$(debsrc fontconfig "$FONTCONFIG_SRC")
    mkdir -p "$d/fontconfig/doc"
    cp "$x"/doc/fontconfig-user.sgml "$x"/doc/fontconfig-devel.sgml "$d/fontconfig/doc/"
    for f in "$x"/fc-*/fc-*.sgml; do
        mkdir -p "$d/fontconfig/$(basename "$(dirname "$f")")"
        cp "$f" "$d/fontconfig/$(basename "$(dirname "$f")")/"
    done
    x=$(debsrc network-manager "$NM_SRC")
    mkdir -p "$d/NetworkManager/man" "$d/NetworkManager/introspection"
    cp "$x"/man/*.xml "$d/NetworkManager/man/"
    for i in Device.Wireless AccessPoint Settings.Connection; do
        cp "$x/introspection/org.freedesktop.NetworkManager.$i.xml" "$d/NetworkManager/introspection/"
    done
    done_set docbook "$stamp"
}

# Javadoc: Apache Commons Lang 3.12's API reference, every file as the package installs it
# (class pages, package summaries and the search, index, tree and source pages that Javadoc
# writes beside them). Questions: eval/questions/javadoc.tsv.
set_javadoc() {
    shipped javadoc libcommons-lang3-java-doc "$COMMONS_LANG3_DOC" usr/share/doc/libcommons-lang3-java/api
}

# The Rust Programming Language as mdBook built it, with what the package ships beside it:
# print.html, 60 old-link stubs marked noindex, and the first, second and 2018 editions'
# folders, whose pages each say only that the edition moved (and the symlinks Debian makes to
# its shared JavaScript). Questions: eval/questions/mdbook.tsv.
set_mdbook() { shipped mdbook rust-doc "$RUST_DOC" usr/share/doc/rust-doc/html/book; }

# GLib's reference manual as gtk-doc wrote it: one page per module (Hash Tables, The Main
# Event Loop, …) with every function's signature and description, chapter pages that are
# tables of contents, the symbol and deprecation indexes and the devhelp file.
# Questions: eval/questions/gtkdoc.tsv.
set_gtkdoc() { shipped gtkdoc libglib2.0-doc "$GLIB_DOC" usr/share/gtk-doc/html/glib; }

# SDL 2's reference as Doxygen wrote it from the headers, exactly as installed: a File
# Reference page per header (every function and macro with its documentation), struct
# pages, the README pages, and Doxygen's by-products (source listings, member lists, the
# globals/functions indexes, search/), in the hashed folders CREATE_SUBDIRS makes.
# Questions: eval/questions/doxygen.tsv.
set_doxygen() { shipped doxygen libsdl2-doc "$SDL2_DOC" usr/share/doc/libsdl2-doc/html; }

# MkDocs's user guide, developer guide and release notes as MkDocs built them with its own
# theme, exactly as installed (404 page, search index, sitemap and assets beside them).
# Questions: eval/questions/mkdocs.tsv.
set_mkdocs() { shipped mkdocs mkdocs-doc "$MKDOCS_DOC" usr/share/doc/mkdocs/html; }

# Linux-PAM's System Administrators', Module Writers' and Application Developers' Guides as
# the DocBook XSL stylesheets chunk them (a page per section, navigation bars above and below
# each, a table of contents per chapter), exactly as installed. Questions: eval/questions/pam.tsv.
set_pam() { shipped pam libpam-doc "$PAM_DOC" usr/share/doc/libpam-doc/html; }

# The Zsh manual (and its FAQ) as texi2any 6.8 wrote it, a page per chapter plus a redirect
# page per node and anchor, exactly as installed. Questions: eval/questions/zsh.tsv
# (answered by lines: a chapter page holds hundreds of options or builtins).
set_zsh() { shipped zsh zsh-doc "$ZSH_DOC" usr/share/doc/zsh-common/html; }

summary() {
    local set=$1 dir="$OUT/$1"
    [[ -d "$dir" ]] || return 0
    local files size
    files=$(find "$dir" -type f | wc -l)
    size=$(du -sh "$dir" | cut -f1)
    printf '%-9s %5s files %6s  ' "$set" "$files" "$size"
    find "$dir" -type f | sed -E 's|.*/||; s|^[^.]*$|(none)|; s|.*\.||' | sort | uniq -c \
        | sort -rn | awk '{printf "%s %s, ", $1, $2}' | sed 's/, $//'
    printf '   (%s)\n' "$(cat "$STAMPS/$set" 2>/dev/null || echo '?')"
}

sets=("$@")
[[ ${#sets[@]} -gt 0 ]] || sets=(html rst asciidoc pdf mixed html-shipped docutils pod info texinfo docbook javadoc mdbook gtkdoc doxygen mkdocs pam zsh)
for s in "${sets[@]}"; do
    case $s in
    html | rst | asciidoc | pdf | mixed | docutils | pod | info | texinfo | docbook | javadoc | mdbook | gtkdoc | doxygen | mkdocs | pam | zsh) "set_$s" ;;
    html-shipped) set_html_shipped ;;
    *) die "unknown set $s (html rst asciidoc pdf mixed html-shipped docutils pod info texinfo docbook javadoc mdbook gtkdoc doxygen mkdocs pam zsh)" ;;
    esac
done
echo "eval/docsets:"
for s in "${sets[@]}"; do summary "$s"; done
