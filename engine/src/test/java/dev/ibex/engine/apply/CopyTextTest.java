package dev.ibex.engine.apply;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ibex.conflict.RowImage;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class CopyTextTest {
    @Test
    void rowsRoundTripThroughCopyTextWithEveryCharacterThatNeedsEscaping() {
        RowImage image = new RowImage(List.of("a", "b", "c", "d"),
                Arrays.asList("plain", "tab\there, new\nline, cr\r, back\\slash", null, "ünïcode ✓"));
        CopyRow row = CopyRow.of(image);
        assertEquals("plain\ttab\\there, new\\nline, cr\\r, back\\\\slash\t\\N\tünïcode ✓", row.toString());
        assertEquals(image, row.image(image.columns()));
    }

    @Test
    void linesFromACopyAreSplitAndUnescapedFieldByField() {
        byte[] line = "k\\t1\t42\t\\N\t{1,2}\tvalue\n".getBytes(StandardCharsets.UTF_8);
        assertEquals(Arrays.asList("k\t1", "42", null), CopyText.fields(line, 0, line.length - 1, 3));
        int rest = CopyText.fieldStart(line, 0, line.length - 1, 3);
        assertEquals("{1,2}\tvalue", new String(line, rest, line.length - 1 - rest, StandardCharsets.UTF_8));
        assertEquals(List.of("\b\f\u000b"), CopyText.fields("\\b\\f\\v".getBytes(StandardCharsets.UTF_8), 0, 6, 1));
    }
}
