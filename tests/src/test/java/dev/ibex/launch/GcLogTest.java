package dev.ibex.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class GcLogTest {
    @Test
    void peaksAreTheLargestSizesOfAnyCollectionInAnyUnit() {
        String log = """
                [0.012s] Using G1
                [0.410s] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 24M->3M(64M) 4.120ms
                [0.902s] GC(1) Pause Young (Concurrent Start) (G1 Humongous Allocation) 41M->18M(64M) 6.002ms
                [0.910s] GC(2) Pause Remark 19M->19M(64M) 1.200ms
                [1.500s] GC(3) Pause Full (G1 Compaction Pause) 63M->900K(1G) 40.000ms
                """;
        GcLog.Peak p = GcLog.peak(log);
        assertEquals(63L << 20, p.before());
        assertEquals(19L << 20, p.after());
        assertEquals(900L << 10, p.live());
        assertEquals(1L << 30, p.committed());
        assertEquals(4, p.collections());
        assertEquals(1, p.full());
    }

    @Test
    void noCollectionIsAllZero() {
        assertEquals(new GcLog.Peak(0, 0, 0, 0, 0, 0), GcLog.peak("[0.012s] Using G1\n"));
    }
}
