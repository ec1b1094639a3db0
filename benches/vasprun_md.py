"""A vasprun.xml laid out as VASP 5/6 writes molecular dynamics (IBRION = 0): per
ionic step a <calculation> with two SCF steps' energies, the <structure> (basis,
rec_basis, positions), forces and stress, then the step's energies. Positions are a
seeded random walk of ATOMS atoms in a 20 Å cube, FRAMES steps of POTIM = 2 fs; used
by benches/read_scale.sh for the reader's throughput.

    python3 benches/vasprun_md.py OUT FRAMES ATOMS
"""
import random
import sys

out, frames, atoms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
pos = [[rng.random() for _ in range(3)] for _ in range(atoms)]
vec = lambda v: "    <v>" + "".join(f"{x:17.8f}" for x in v) + " </v>\n"
energy = lambda e: (f"   <energy>\n    <i name=\"e_fr_energy\">{e:16.8f} </i>\n"
                    f"    <i name=\"e_wo_entrp\">{e:16.8f} </i>\n"
                    f"    <i name=\"e_0_energy\">{e:16.8f} </i>\n   </energy>\n")
with open(out, "w") as f:
    f.write('<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n <generator>\n'
            '  <i name="program" type="string">vasp </i>\n </generator>\n <incar>\n'
            '  <i type="int" name="IBRION">     0</i>\n  <i name="POTIM">      2.00000000</i>\n'
            ' </incar>\n <parameters>\n  <i type="int" name="IBRION">     0</i>\n'
            '  <i name="POTIM">      2.00000000</i>\n  <i type="int" name="ISIF">     2</i>\n'
            ' </parameters>\n <atominfo>\n  <atoms>%8d </atoms>\n  <types>       2 </types>\n'
            '  <array name="atoms" >\n   <dimension dim="1">ion</dimension>\n'
            '   <field type="string">element</field>\n   <field type="int">atomtype</field>\n'
            '   <set>\n' % atoms)
    for i in range(atoms):
        f.write("    <rc><c>%s</c><c>   %d</c></rc>\n" % (("Li", 1) if i < atoms // 2 else ("O ", 2)))
    f.write("   </set>\n  </array>\n </atominfo>\n")
    for k in range(frames):
        f.write(" <calculation>\n")
        for e in (-400.1, -400.2):
            f.write("  <scstep>\n" + energy(e) + "  </scstep>\n")
        f.write("  <structure>\n   <crystal>\n    <varray name=\"basis\" >\n")
        f.write("".join(vec(r) for r in ([20, 0, 0], [0, 20, 0], [0, 0, 20])))
        f.write("    </varray>\n    <i name=\"volume\">   8000.00000000 </i>\n"
                "    <varray name=\"rec_basis\" >\n")
        f.write("".join(vec(r) for r in ([0.05, 0, 0], [0, 0.05, 0], [0, 0, 0.05])))
        f.write("    </varray>\n   </crystal>\n   <varray name=\"positions\" >\n")
        for p in pos:
            f.write(vec(p))
        f.write("   </varray>\n  </structure>\n  <varray name=\"forces\" >\n")
        for p in pos:
            f.write(vec((0.1, -0.2, 0.3)))
        f.write("  </varray>\n  <varray name=\"stress\" >\n")
        f.write("".join(vec(r) for r in ([1, 0, 0], [0, 1, 0], [0, 0, 1])))
        f.write("  </varray>\n" + energy(-400.2) + " </calculation>\n")
        for p in pos:
            for j in range(3):
                p[j] += 0.002 * (rng.random() - 0.5)
    f.write("</modeling>\n")
