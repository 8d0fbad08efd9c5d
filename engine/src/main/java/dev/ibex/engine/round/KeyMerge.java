package dev.ibex.engine.round;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.PriorityQueue;

/**
 * K-way merge of key streams that are each sorted in {@link KeyOrder}, yielding every distinct
 * key once, in order. Holds one key per stream, so memory does not grow with the backlog.
 */
public final class KeyMerge implements Iterator<List<String>> {
    private record Head(List<String> key, Iterator<List<String>> rest) {
    }

    private final PriorityQueue<Head> heads = new PriorityQueue<>((x, y) -> KeyOrder.INSTANCE.compare(x.key, y.key));

    public KeyMerge(List<? extends Iterator<List<String>>> streams) {
        for (Iterator<List<String>> s : streams) {
            advance(s);
        }
    }

    private void advance(Iterator<List<String>> s) {
        if (s.hasNext()) {
            heads.add(new Head(s.next(), s));
        }
    }

    @Override
    public boolean hasNext() {
        return !heads.isEmpty();
    }

    @Override
    public List<String> next() {
        if (heads.isEmpty()) {
            throw new NoSuchElementException();
        }
        Head h = heads.poll();
        advance(h.rest);
        while (!heads.isEmpty() && KeyOrder.INSTANCE.compare(heads.peek().key, h.key) == 0) {
            advance(heads.poll().rest);
        }
        return h.key;
    }

    /** Up to {@code max} next keys. */
    public List<List<String>> nextChunk(int max) {
        List<List<String>> out = new ArrayList<>(Math.min(max, 1024));
        while (out.size() < max && hasNext()) {
            out.add(next());
        }
        return out;
    }
}
