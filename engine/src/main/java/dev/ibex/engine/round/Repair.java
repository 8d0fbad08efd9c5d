package dev.ibex.engine.round;

import dev.ibex.conflict.VersionVector;

/**
 * An operator's repair of one key ({@code ibex validate --repair-from}): every node is to hold
 * {@code from}'s row, provided that no node changed the key since the validation that found it
 * differing (whose versions {@code covers} joins) and that {@code from} has seen every change to
 * it. A key changed since is left to the normal round: the newer write wins, and the repair is
 * recorded as superseded.
 *
 * @param atMicros when the repair was recorded: the change stamp of a row that has none (a row no
 *                 captured change ever touched)
 */
public record Repair(String from, VersionVector covers, long atMicros) {
}
